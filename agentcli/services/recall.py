"""Choosing the memories that enter the context, within a token budget.

All of a user's memories when they fit; otherwise the most relevant to the
message (the store's own full-text search, ranked from that user's memories
alone), with recency breaking ties and filling what room is left. Never more
than the budget. The cost depends on the budget and a fixed number of
candidates, not on how many memories the user has.
"""

from __future__ import annotations

from typing import NamedTuple

from ..core.protocols import MemoryStore
from ..core.records import Memory

CHARS_PER_TOKEN = 4
# How many full-text matches are considered; more only costs time.
CANDIDATES = 100
# Weight of recency against relevance (the best match scores 1.0): enough to
# prefer the newer of two near-equal matches and to fill leftover room.
RECENCY_WEIGHT = 0.1


class Selection(NamedTuple):
    """The chosen memories, oldest first, and whether they are all the user has."""

    memories: list[Memory]
    complete: bool


def select_memories(db: MemoryStore, user_id: str, message: str, token_budget: int) -> Selection:
    """The memories to show for this message, within ``token_budget`` tokens of text."""
    max_chars = max(token_budget, 0) * CHARS_PER_TOKEN
    recent, complete = db.recent_memories(user_id, max_chars)
    if complete:
        return Selection(sorted(recent, key=lambda m: m.id), True)
    found: dict[int, Memory] = {}
    score: dict[int, float] = {}
    for memory, relevance in db.relevant_memories(user_id, message, CANDIDATES):
        found[memory.id] = memory
        score[memory.id] = relevance
    for position, memory in enumerate(recent):
        found[memory.id] = memory
        score[memory.id] = score.get(memory.id, 0.0) + RECENCY_WEIGHT * (1 - position / len(recent))
    chosen: list[Memory] = []
    used = 0
    for memory_id in sorted(score, key=lambda i: (-score[i], -i)):
        size = len(found[memory_id].memory)
        if used + size <= max_chars:
            chosen.append(found[memory_id])
            used += size
    return Selection(sorted(chosen, key=lambda m: m.id), False)


def search_memories(db: MemoryStore, user_id: str, query: str, limit: int) -> list[Memory]:
    """The user's memories matching any keyword of ``query``, best first."""
    return [m for m, _ in db.relevant_memories(user_id, query, limit)]


class Page(NamedTuple):
    """One page of a user's memories, oldest first, and how many match in all."""

    memories: list[Memory]
    total: int


def page_memories(
    db: MemoryStore, user_id: str, *, topic: str | None = None, limit: int, offset: int = 0
) -> Page:
    """The user's memories (with ``topic``, those carrying it) from ``offset``, at most
    ``limit`` of them: what a caller that must never receive the whole store asks for."""
    matching = db.list_memories(user_id, topic=topic)
    return Page(matching[offset : offset + limit], len(matching))
