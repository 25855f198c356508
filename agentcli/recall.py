"""Choosing the memories that enter the context, within a token budget.

All of a user's memories when they fit; otherwise the most relevant to the
message (FTS5 BM25 over memory text and topics), with recency breaking ties
and filling what room is left. Never more than the budget. The cost depends
on the budget and a fixed number of candidates, not on how many memories the
user has.
"""

from __future__ import annotations

import re
from typing import NamedTuple, Protocol

from .store import Memory, fts_query

CHARS_PER_TOKEN = 4
# How many full-text matches are considered; more only costs time.
CANDIDATES = 100
# Most rows a relevance query may match: words are searched rarest first until
# their matches would exceed this. A word in more memories than this says
# little about which one is meant, and ranking every match would cost time.
MAX_MATCHED_ROWS = 1000
# Weight of recency against relevance (the best match scores 1.0): enough to
# prefer the newer of two near-equal matches and to fill leftover room.
RECENCY_WEIGHT = 0.1
MAX_QUERY_WORDS = 32

# Words that say nothing about which memory is meant.
STOP_WORDS = frozenset(
    """
    a about after again all also am an and any are as at be because been before being
    both but by can could did do does doing done for from had has have having he her here
    hers him his how i if in into is it its just me might more most must my no nor not
    of off on once only or other our ours out over own same she should so some such than
    that the their theirs them then there these they this those through to too under
    until up us very was we were what when where which while who whom why will with
    would you your yours yourself s t d ll m re ve don doesn didn isn wasn aren weren
    won wouldn shouldn couldn ever please tell know think say said like get got let
    """.split()
)
_WORD = re.compile(r"\w+")


class MemorySource(Protocol):
    def recent_memories(self, user_id: str, max_chars: int) -> tuple[list[Memory], bool]: ...

    def rank_memories(self, user_id: str, match: str, limit: int) -> list[tuple[Memory, float]]: ...

    def term_counts(self, terms: list[str], *, cap: int | None = None) -> dict[str, int]: ...


class Selection(NamedTuple):
    """The chosen memories, oldest first, and whether they are all the user has."""

    memories: list[Memory]
    complete: bool


def keywords(message: str) -> list[str]:
    """The words of a message worth searching for, in order, without repeats."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(message.casefold()):
        if word not in STOP_WORDS and (len(word) > 1 or word.isdigit()):
            seen.setdefault(word, None)
    return list(seen)[:MAX_QUERY_WORDS]


def search_terms(db: MemorySource, message: str) -> list[str]:
    """The message's keywords worth a full-text query: rarest first, as long as
    their matches add up to at most ``MAX_MATCHED_ROWS`` rows."""
    words = keywords(message)
    counts = db.term_counts(words, cap=MAX_MATCHED_ROWS + 1)  # more is "too common" alike
    chosen, rows = [], 0
    for word in sorted(words, key=lambda w: counts.get(w, 0)):
        rows += counts.get(word, 0)
        if rows > MAX_MATCHED_ROWS:
            break
        chosen.append(word)
    return chosen


def select_memories(db: MemorySource, user_id: str, message: str, token_budget: int) -> Selection:
    """The memories to show for this message, within ``token_budget`` tokens of text."""
    max_chars = max(token_budget, 0) * CHARS_PER_TOKEN
    recent, complete = db.recent_memories(user_id, max_chars)
    if complete:
        return Selection(sorted(recent, key=lambda m: m.id), True)
    found: dict[int, Memory] = {}
    score: dict[int, float] = {}
    words = search_terms(db, message)
    if words:
        hits = db.rank_memories(user_id, fts_query(" ".join(words)), CANDIDATES)
        best = hits[0][1] if hits else 0.0
        for memory, rank in hits:  # BM25 ranks are negative; lower is better
            found[memory.id] = memory
            score[memory.id] = rank / best if best < 0 else 1.0
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


def search_memories(db: MemorySource, user_id: str, query: str, limit: int) -> list[Memory]:
    """The user's memories matching any keyword of ``query``, best first."""
    words = keywords(query) or [query]
    return [m for m, _ in db.rank_memories(user_id, fts_query(" ".join(words)), limit)]
