"""Queries on user memories and their event log: functions of a connection.

Every query is scoped by ``user_id``: another user's memory id is "not found".
Every change writes a ``memory_events`` row in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from sqlite3 import Connection
from typing import Any

from ...core.errors import DuplicateMemoryError, NotFoundError
from ...core.records import Memory, MemoryEvent
from ...core.text import (
    MAX_MATCHED_ROWS,
    normalize_memory,
    rarest_words,
    score_matches,
    search_words,
)
from ..rows import check_memory_id, memory_record, topics_json
from .db import fts_query, utcnow

_COLS = (
    "m.id, m.user_id, m.memory, m.topics, m.created_at, m.updated_at, "
    "m.created_session_id, m.created_run_id, m.updated_session_id, m.updated_run_id"
)
# One user's memories matching one word, up to a cap: counted, or their ids.
# CROSS JOIN keeps the full-text index the outer loop: the planner would
# otherwise walk all of the user's memories and probe the index once for each.
_WORD_MATCHES = (
    "SELECT f.rowid FROM memories_fts f CROSS JOIN memories u ON u.id = f.rowid "
    "WHERE memories_fts MATCH ? AND u.user_id = ? LIMIT ?"
)
_WORD_COUNT = f"SELECT ?, count(*) FROM ({_WORD_MATCHES})"
_EVENT_COLS = "id, memory_id, user_id, action, before, after, actor, run_id, created_at"


# -- reading -------------------------------------------------------------------
def get_memory(conn: Connection, user_id: str, memory_id: int) -> Memory:
    check_memory_id(user_id, memory_id)
    row = conn.execute(
        f"SELECT {_COLS} FROM memories m WHERE m.user_id = ? AND m.id = ?",
        (user_id, memory_id),
    ).fetchone()
    if row is None:
        raise NotFoundError(f"no memory {memory_id} for user {user_id!r}")
    return memory_record(row)


def list_memories(conn: Connection, user_id: str, *, topic: str | None) -> list[Memory]:
    """The user's memories, oldest first; with ``topic``, those carrying it."""
    sql = f"SELECT {_COLS} FROM memories m WHERE m.user_id = ?"
    params: list[Any] = [user_id]
    if topic is not None:
        sql += " AND EXISTS (SELECT 1 FROM json_each(m.topics) t WHERE t.value = ?)"
        params.append(topic)
    rows = conn.execute(sql + " ORDER BY m.id", params).fetchall()
    return [memory_record(r) for r in rows]


def count_memories(conn: Connection, user_id: str) -> int:
    """How many memories the user has (one row, kept by triggers)."""
    row = conn.execute(
        "SELECT memories FROM memory_counts WHERE user_id = ?", (user_id,)
    ).fetchone()
    return int(row[0]) if row else 0


def recent_memories(conn: Connection, user_id: str, max_chars: int) -> tuple[list[Memory], bool]:
    """The newest memories whose text adds up to at most ``max_chars``, newest first,
    and whether that is all of them. Reads only as many rows as fit, plus one."""
    chosen: list[Memory] = []
    used = 0
    cursor = conn.execute(
        f"SELECT {_COLS} FROM memories m WHERE m.user_id = ? ORDER BY m.updated_at DESC, m.id DESC",
        (user_id,),
    )
    try:
        for row in cursor:
            used += len(row[2])
            if used > max_chars:
                return chosen, False
            chosen.append(memory_record(row))
    finally:
        cursor.close()
    return chosen, True


def relevant_memories(
    conn: Connection, user_id: str, text: str, limit: int
) -> list[tuple[Memory, float]]:
    """This user's memories relevant to ``text``, best first, scored in (0, 1].

    Each word is matched through the index's own tokenizer (so "painted"
    finds "paint"), counting only this user's memories, and ranked by
    :func:`~agentcli.core.text.score_matches`: no statistic of another
    user's memories enters the order. Call within a read.
    """
    words = search_words(text)
    if not words:
        return []
    cap = MAX_MATCHED_ROWS + 1  # more is "too common" alike
    # Counted first, all words in one statement, so that only the ids of the
    # words ranked by cross into Python (reading rows costs more than counting).
    sql = " UNION ALL ".join([_WORD_COUNT] * len(words))
    params = [p for word in words for p in (word, fts_query(word), user_id, cap)]
    chosen = rarest_words({word: n for word, n in conn.execute(sql, params) if n})
    if not chosen:
        return []
    matches = {
        word: [r[0] for r in conn.execute(_WORD_MATCHES, (fts_query(word), user_id, cap))]
        for word in chosen
    }
    total = count_memories(conn, user_id)
    ranked = score_matches(matches, total)[:limit]
    ids = [i for i, _ in ranked]
    marks = ",".join("?" * len(ids))
    rows = conn.execute(f"SELECT {_COLS} FROM memories m WHERE m.id IN ({marks})", ids).fetchall()
    by_id = {r[0]: memory_record(r) for r in rows}
    return [(by_id[i], score) for i, score in ranked if i in by_id]


def memory_events(conn: Connection, user_id: str, memory_id: int) -> list[MemoryEvent]:
    """What happened to a memory, oldest first (also after it was deleted)."""
    check_memory_id(user_id, memory_id)
    rows = conn.execute(
        f"SELECT {_EVENT_COLS} FROM memory_events WHERE user_id = ? AND memory_id = ? ORDER BY id",
        (user_id, memory_id),
    ).fetchall()
    if not rows:
        raise NotFoundError(f"no memory {memory_id} for user {user_id!r}")
    return [MemoryEvent(*r) for r in rows]


# -- changing (each within a transaction) -----------------------------------------
def add_memory(
    conn: Connection,
    user_id: str,
    memory: str,
    topics: Iterable[str],
    *,
    actor: str,
    session_id: str | None,
    run_id: str | None,
) -> tuple[Memory, bool]:
    """Store a memory; returns it and ``True``, or the identical one already stored
    and ``False``."""
    now = utcnow()
    normalized = normalize_memory(memory)
    # Looked up first: an insert ignored on conflict would still use up an id.
    row = conn.execute(
        f"SELECT {_COLS} FROM memories m WHERE m.user_id = ? AND m.normalized = ?",
        (user_id, normalized),
    ).fetchone()
    if row is not None:
        return memory_record(row), False
    memory_id = conn.execute(
        "INSERT INTO memories (user_id, memory, normalized, topics, created_at, "
        "updated_at, created_session_id, created_run_id, updated_session_id, "
        "updated_run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (user_id, memory, normalized, topics_json(topics), now, now) + (session_id, run_id) * 2,
    ).lastrowid
    assert memory_id is not None
    _event(conn, memory_id, user_id, "add", None, memory, actor, run_id, now)
    return get_memory(conn, user_id, memory_id), True


def update_memory(
    conn: Connection,
    user_id: str,
    memory_id: int,
    *,
    memory: str | None,
    topics: Iterable[str] | None,
    actor: str,
    session_id: str | None,
    run_id: str | None,
) -> Memory:
    """Change a memory's text and/or topics; an unchanged memory is left alone."""
    now = utcnow()
    old = get_memory(conn, user_id, memory_id)
    text = old.memory if memory is None else memory
    new_topics = old.topics if topics is None else list(topics)
    if text == old.memory and new_topics == old.topics:
        return old
    normalized = normalize_memory(text)
    clash = conn.execute(
        "SELECT id FROM memories WHERE user_id = ? AND normalized = ? AND id != ?",
        (user_id, normalized, memory_id),
    ).fetchone()
    if clash is not None:
        raise DuplicateMemoryError(f"memory {clash[0]} already says that")
    conn.execute(
        "UPDATE memories SET memory = ?, normalized = ?, topics = ?, updated_at = ?, "
        "updated_session_id = ?, updated_run_id = ? WHERE id = ?",
        (text, normalized, topics_json(new_topics), now, session_id, run_id, memory_id),
    )
    _event(conn, memory_id, user_id, "update", old.memory, text, actor, run_id, now)
    return get_memory(conn, user_id, memory_id)


def delete_memory(
    conn: Connection, user_id: str, memory_id: int, *, actor: str, run_id: str | None
) -> Memory:
    old = get_memory(conn, user_id, memory_id)
    conn.execute("DELETE FROM memories WHERE id = ?", (memory_id,))
    _event(conn, memory_id, user_id, "delete", old.memory, None, actor, run_id, utcnow())
    return old


def clear_memories(conn: Connection, user_id: str, *, actor: str) -> int:
    """Delete every memory of this user (no one else's); returns how many."""
    conn.execute(
        "INSERT INTO memory_events (memory_id, user_id, action, before, after, actor, "
        "run_id, created_at) SELECT id, user_id, 'delete', memory, NULL, ?, NULL, ? "
        "FROM memories WHERE user_id = ? ORDER BY id",
        (actor, utcnow(), user_id),
    )
    return conn.execute("DELETE FROM memories WHERE user_id = ?", (user_id,)).rowcount


def import_memories(
    conn: Connection, user_id: str, rows: Iterable[dict[str, Any]], *, actor: str
) -> int:
    """Add many memories, skipping those already stored.

    Each row has ``memory``, and optionally ``topics``, ``created_at`` and
    ``updated_at``. Returns how many were added.
    """
    now = utcnow()
    # Known texts are skipped before inserting: an insert ignored on conflict
    # would still use up an id.
    seen = {
        r[0] for r in conn.execute("SELECT normalized FROM memories WHERE user_id = ?", (user_id,))
    }
    params = []
    for row in rows:
        normalized = normalize_memory(row["memory"])
        if normalized in seen:
            continue
        seen.add(normalized)
        created = row.get("created_at") or now
        params.append(
            (
                user_id,
                row["memory"],
                normalized,
                topics_json(row.get("topics") or []),
                created,
                row.get("updated_at") or created,
            )
        )
    last = conn.execute("SELECT coalesce(max(id), 0) FROM memories").fetchone()[0]
    conn.executemany(
        "INSERT INTO memories (user_id, memory, normalized, topics, created_at, "
        "updated_at) VALUES (?, ?, ?, ?, ?, ?)",
        params,
    )
    # New ids are above every id before this transaction (AUTOINCREMENT).
    conn.execute(
        "INSERT INTO memory_events (memory_id, user_id, action, before, after, actor, "
        "run_id, created_at) SELECT id, user_id, 'add', NULL, memory, ?, NULL, ? "
        "FROM memories WHERE id > ? ORDER BY id",
        (actor, now, last),
    )
    return len(params)


def _event(
    conn: Connection,
    memory_id: int,
    user_id: str,
    action: str,
    before: str | None,
    after: str | None,
    actor: str,
    run_id: str | None,
    now: str,
) -> None:
    conn.execute(
        "INSERT INTO memory_events (memory_id, user_id, action, before, after, actor, "
        "run_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (memory_id, user_id, action, before, after, actor, run_id, now),
    )
