"""Changing memories: cleaning text and topics, and the user's own edits.

``remember``, ``revise`` and ``forget`` are what ``agentcli memories``, the
REPL's ``/remember`` and ``/forget`` and the MCP server call (``actor`` names
who made the change in the memory's history); ``change_notice`` words the
one-line notice shown when a run changed memories.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from ..core.errors import UsageError
from ..core.protocols import Store
from ..core.records import Memory

MAX_MEMORY_CHARS = 1000
MAX_TOPICS = 10
MAX_TOPIC_CHARS = 40
NOTICE_CHARS = 100
# Most memories one import adds (10,000 take about a second).
MAX_IMPORT_ROWS = 100_000


def clean_memory(text: str) -> str:
    """A memory's text on one line; refused when empty or too long."""
    cleaned = " ".join(text.split())
    if not cleaned:
        raise UsageError("a memory must not be empty")
    if len(cleaned) > MAX_MEMORY_CHARS:
        raise UsageError(
            f"a memory is at most {MAX_MEMORY_CHARS} characters (this one has {len(cleaned)})"
        )
    return cleaned


def clean_topics(topics: Any) -> list[str] | None:
    """Topics as short lowercase words without repeats; ``None`` stays ``None``."""
    if topics is None:
        return None
    if isinstance(topics, str):
        topics = [topics]
    if not isinstance(topics, list | tuple) or not all(isinstance(t, str) for t in topics):
        raise UsageError("topics must be a list of strings")
    out: dict[str, None] = {}
    for topic in topics:
        tag = " ".join(topic.lower().split())
        if len(tag) > MAX_TOPIC_CHARS:
            raise UsageError(f"a topic is at most {MAX_TOPIC_CHARS} characters")
        if tag:
            out.setdefault(tag, None)
    if len(out) > MAX_TOPICS:
        raise UsageError(f"a memory has at most {MAX_TOPICS} topics")
    return list(out)


def change_notice(action: str, memory: Memory) -> str:
    """'memory added: Sarah prefers email over phone.' (long text shortened)."""
    text = memory.memory
    if len(text) > NOTICE_CHARS:
        text = text[: NOTICE_CHARS - 1].rstrip() + "…"
    return f"memory {action}: {text}"


def remember(
    db: Store,
    user_id: str,
    text: str,
    topics: Iterable[str] | None = None,
    *,
    actor: str = "user",
) -> tuple[Memory, bool]:
    """Add a memory; returns it and whether it is new (an identical one is kept)."""
    return db.add_memory(
        user_id, clean_memory(text), clean_topics(list(topics or [])) or [], actor=actor
    )


def revise(
    db: Store,
    user_id: str,
    memory_id: int,
    text: str,
    topics: Iterable[str] | None = None,
    *,
    actor: str = "user",
) -> Memory:
    """Rewrite a memory (and, when given, its topics)."""
    tags = clean_topics(list(topics)) if topics is not None else None
    return db.update_memory(user_id, memory_id, memory=clean_memory(text), topics=tags, actor=actor)


def forget(db: Store, user_id: str, memory_id: int, *, actor: str = "user") -> Memory:
    """Delete one of the user's memories; another user's id is not found."""
    return db.delete_memory(user_id, memory_id, actor=actor)


def import_rows(data: Any) -> list[dict[str, Any]]:
    """Rows of an export (a JSON list of objects) checked and cleaned for import.

    Only ``memory`` is required; ``topics``, ``created_at`` and ``updated_at``
    are kept when given; ``id`` and ``user_id`` are ignored.
    """
    if not isinstance(data, list):
        raise UsageError("expected a JSON list of memories, as `agentcli memories export` writes")
    if len(data) > MAX_IMPORT_ROWS:
        raise UsageError(
            f"{len(data):,} memories: one import takes at most {MAX_IMPORT_ROWS:,}; split the file"
        )
    rows = []
    for number, item in enumerate(data, start=1):
        try:
            if not isinstance(item, dict):
                raise UsageError("not an object")
            if not isinstance(item.get("memory"), str):
                raise UsageError('"memory" must be a string')
            row: dict[str, Any] = {
                "memory": clean_memory(item["memory"]),
                "topics": clean_topics(item.get("topics")) or [],
            }
            for key in ("created_at", "updated_at"):
                if item.get(key) is not None:
                    row[key] = iso_utc(item[key], key)
        except UsageError as exc:
            raise UsageError(f"memory {number}: {exc}") from None
        rows.append(row)
    return rows


def iso_utc(value: Any, name: str) -> str:
    """An ISO 8601 time as the store writes it (UTC, milliseconds, 'Z')."""
    try:
        when = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise UsageError(f'"{name}" must be an ISO 8601 time, got {value!r}') from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
