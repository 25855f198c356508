"""Queries on user memories and their event log.

Every query is scoped by ``user_id``: another user's memory id is "not found".
Every change writes a ``memory_events`` row in the same transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from ...core.errors import DuplicateMemoryError, NotFoundError
from ...core.records import Memory, MemoryEvent
from ...core.text import (
    MAX_MATCHED_ROWS,
    normalize_memory,
    rarest_first,
    score_matches,
    search_words,
)
from .db import Database, utcnow
from .sessions import fts_query

_COLS = (
    "m.id, m.user_id, m.memory, m.topics, m.created_at, m.updated_at, "
    "m.created_session_id, m.created_run_id, m.updated_session_id, m.updated_run_id"
)
# The ids of one user's memories matching one word, up to a cap.
_WORD_MATCHES = (
    "SELECT f.rowid FROM memories_fts f JOIN memories u ON u.id = f.rowid "
    "WHERE memories_fts MATCH ? AND u.user_id = ? LIMIT ?"
)
_EVENT_COLS = "id, memory_id, user_id, action, before, after, actor, run_id, created_at"


def _memory(row: Sequence[Any]) -> Memory:
    return Memory(
        id=row[0],
        user_id=row[1],
        memory=row[2],
        topics=json.loads(row[3]) if row[3] != "[]" else [],
        created_at=row[4],
        updated_at=row[5],
        created_session_id=row[6],
        created_run_id=row[7],
        updated_session_id=row[8],
        updated_run_id=row[9],
    )


def _check_id(user_id: str, memory_id: int) -> None:
    """An id SQLite cannot hold names no memory (rather than raising OverflowError)."""
    if not -(2**63) <= memory_id < 2**63:
        raise NotFoundError(f"no memory {memory_id} for user {user_id!r}")


def _topics_json(topics: Iterable[str]) -> str:
    return json.dumps(list(topics), ensure_ascii=False)


class MemoryQueries(Database):
    # -- reading -------------------------------------------------------------
    def get_memory(self, user_id: str, memory_id: int) -> Memory:
        _check_id(user_id, memory_id)
        row = self.execute(
            f"SELECT {_COLS} FROM memories m WHERE m.user_id = ? AND m.id = ?",
            (user_id, memory_id),
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no memory {memory_id} for user {user_id!r}")
        return _memory(row)

    def list_memories(self, user_id: str, *, topic: str | None = None) -> list[Memory]:
        """The user's memories, oldest first; with ``topic``, those carrying it."""
        sql = f"SELECT {_COLS} FROM memories m WHERE m.user_id = ?"
        params: list[Any] = [user_id]
        if topic is not None:
            sql += " AND EXISTS (SELECT 1 FROM json_each(m.topics) t WHERE t.value = ?)"
            params.append(topic)
        rows = self.execute(sql + " ORDER BY m.id", tuple(params)).fetchall()
        return [_memory(r) for r in rows]

    def count_memories(self, user_id: str) -> int:
        return self.execute(
            "SELECT count(*) FROM memories WHERE user_id = ?", (user_id,)
        ).fetchone()[0]

    def recent_memories(self, user_id: str, max_chars: int) -> tuple[list[Memory], bool]:
        """The newest memories whose text adds up to at most ``max_chars``, newest first,
        and whether that is all of them. Reads only as many rows as fit, plus one."""
        chosen: list[Memory] = []
        used = 0
        with self.reading() as conn:
            cursor = conn.execute(
                f"SELECT {_COLS} FROM memories m WHERE m.user_id = ? "
                "ORDER BY m.updated_at DESC, m.id DESC",
                (user_id,),
            )
            try:
                for row in cursor:
                    used += len(row[2])
                    if used > max_chars:
                        return chosen, False
                    chosen.append(_memory(row))
            finally:
                cursor.close()
        return chosen, True

    def relevant_memories(self, user_id: str, text: str, limit: int) -> list[tuple[Memory, float]]:
        """This user's memories relevant to ``text``, best first, scored in (0, 1].

        Each word is matched through the index's own tokenizer (so "painted"
        finds "paint"), counting only this user's memories, and ranked by
        :func:`~agentcli.core.text.score_matches`: no statistic of another
        user's memories enters the order.
        """
        words = search_words(text)
        if not words:
            return []
        cap = MAX_MATCHED_ROWS + 1  # more is "too common" alike
        with self.reading() as conn:
            matches = {
                word: [r[0] for r in conn.execute(_WORD_MATCHES, (fts_query(word), user_id, cap))]
                for word in words
            }
            chosen = rarest_first(matches)
            if not chosen:
                return []
            total = conn.execute(
                "SELECT count(*) FROM memories WHERE user_id = ?", (user_id,)
            ).fetchone()[0]
            ranked = score_matches({w: matches[w] for w in chosen}, total)[:limit]
            ids = [i for i, _ in ranked]
            marks = ",".join("?" * len(ids))
            rows = conn.execute(
                f"SELECT {_COLS} FROM memories m WHERE m.id IN ({marks})", ids
            ).fetchall()
        by_id = {r[0]: _memory(r) for r in rows}
        return [(by_id[i], score) for i, score in ranked if i in by_id]

    def memory_events(self, user_id: str, memory_id: int) -> list[MemoryEvent]:
        """What happened to a memory, oldest first (also after it was deleted)."""
        _check_id(user_id, memory_id)
        rows = self.execute(
            f"SELECT {_EVENT_COLS} FROM memory_events WHERE user_id = ? AND memory_id = ? "
            "ORDER BY id",
            (user_id, memory_id),
        ).fetchall()
        if not rows:
            raise NotFoundError(f"no memory {memory_id} for user {user_id!r}")
        return [MemoryEvent(*r) for r in rows]

    # -- changing ------------------------------------------------------------
    def add_memory(
        self,
        user_id: str,
        memory: str,
        topics: Iterable[str] = (),
        *,
        actor: str,
        session_id: str | None = None,
        run_id: str | None = None,
    ) -> tuple[Memory, bool]:
        """Store a memory; returns it and ``True``, or the identical one already stored
        and ``False``."""
        now = utcnow()
        normalized = normalize_memory(memory)
        with self.transaction() as conn:
            # Looked up first: an insert ignored on conflict would still use up an id.
            row = conn.execute(
                f"SELECT {_COLS} FROM memories m WHERE m.user_id = ? AND m.normalized = ?",
                (user_id, normalized),
            ).fetchone()
            if row is not None:
                return _memory(row), False
            memory_id = conn.execute(
                "INSERT INTO memories (user_id, memory, normalized, topics, created_at, "
                "updated_at, created_session_id, created_run_id, updated_session_id, "
                "updated_run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (user_id, memory, normalized, _topics_json(topics), now, now)
                + (session_id, run_id) * 2,
            ).lastrowid
            self._event(conn, memory_id, user_id, "add", None, memory, actor, run_id, now)
            return self.get_memory(user_id, memory_id), True

    def update_memory(
        self,
        user_id: str,
        memory_id: int,
        *,
        memory: str | None = None,
        topics: Iterable[str] | None = None,
        actor: str,
        session_id: str | None = None,
        run_id: str | None = None,
    ) -> Memory:
        """Change a memory's text and/or topics; an unchanged memory is left alone."""
        now = utcnow()
        with self.transaction() as conn:
            old = self.get_memory(user_id, memory_id)
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
                (text, normalized, _topics_json(new_topics), now, session_id, run_id, memory_id),
            )
            self._event(conn, memory_id, user_id, "update", old.memory, text, actor, run_id, now)
            return self.get_memory(user_id, memory_id)

    def delete_memory(
        self, user_id: str, memory_id: int, *, actor: str, run_id: str | None = None
    ) -> Memory:
        with self.transaction() as conn:
            old = self.get_memory(user_id, memory_id)
            conn.execute("DELETE FROM memories WHERE id = ?", (memory_id,))
            self._event(
                conn, memory_id, user_id, "delete", old.memory, None, actor, run_id, utcnow()
            )
        return old

    def clear_memories(self, user_id: str, *, actor: str) -> int:
        """Delete every memory of this user (no one else's); returns how many."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO memory_events (memory_id, user_id, action, before, after, actor, "
                "run_id, created_at) SELECT id, user_id, 'delete', memory, NULL, ?, NULL, ? "
                "FROM memories WHERE user_id = ? ORDER BY id",
                (actor, utcnow(), user_id),
            )
            return conn.execute("DELETE FROM memories WHERE user_id = ?", (user_id,)).rowcount

    def import_memories(self, user_id: str, rows: Iterable[dict[str, Any]], *, actor: str) -> int:
        """Add many memories in one transaction, skipping those already stored.

        Each row has ``memory``, and optionally ``topics``, ``created_at`` and
        ``updated_at``. Returns how many were added.
        """
        now = utcnow()
        with self.transaction() as conn:
            # Known texts are skipped before inserting: an insert ignored on
            # conflict would still use up an id.
            seen = {
                r[0]
                for r in conn.execute(
                    "SELECT normalized FROM memories WHERE user_id = ?", (user_id,)
                )
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
                        _topics_json(row.get("topics") or []),
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

    @staticmethod
    def _event(
        conn: sqlite3.Connection,
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
