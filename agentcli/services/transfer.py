"""Copying everything one store holds into another (``agentcli db copy``).

Sessions go one at a time, each in one transaction of the destination, with
their runs, messages, model calls and summary; then each user's memories with
their history. What the destination holds already is skipped (by run id, by a
memory history's first event), so a second copy adds nothing and a copy cut
off half-way can simply be run again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from ..core.protocols import Store


class CopyCounts(NamedTuple):
    """What a copy added to the destination."""

    sessions: int = 0
    runs: int = 0
    messages: int = 0
    model_calls: int = 0
    memories: int = 0
    memory_events: int = 0


def copy_store(
    source: Store, destination: Store, *, on_session: Callable[[int, int], None] | None = None
) -> CopyCounts:
    """Copy every session and memory history of ``source`` into ``destination``.

    ``on_session(done, total)`` is told after each session. Raises the
    destination's :class:`StoreError` on a failure: sessions written before it
    stay, the one being written is not there at all.
    """
    counts = CopyCounts()
    pks = source.session_pks()
    for done, pk in enumerate(pks, start=1):
        added = destination.write_session(source.read_session(pk))
        counts = counts._replace(
            sessions=counts.sessions + added.session,
            runs=counts.runs + added.runs,
            messages=counts.messages + added.messages,
            model_calls=counts.model_calls + added.model_calls,
        )
        if on_session is not None:
            on_session(done, len(pks))
    for user_id in source.user_ids():
        memories, events = destination.write_memories(user_id, source.read_memories(user_id))
        counts = counts._replace(
            memories=counts.memories + memories, memory_events=counts.memory_events + events
        )
    return counts
