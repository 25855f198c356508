"""Queries on user memories and their event log.

Every query is scoped by ``user_id``: another user's memory id is "not found".
Every change writes a ``memory_events`` row in the same transaction. A change
locks the memory's row first (``FOR UPDATE``), so two processes changing the
same memory take turns and each event records what the other left.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import psycopg

from ...core.errors import DuplicateMemoryError, NotFoundError
from ...core.records import Memory, MemoryEvent
from ...core.text import (
    MAX_MATCHED_ROWS,
    normalize_memory,
    rarest_first,
    score_matches,
    search_words,
)
from ..rows import check_memory_id, memory_record, topics_json
from .db import Database, retrying, utcnow

# Topics as text: most are "[]", which needs no JSON parsing.
_COLS = (
    "m.id, m.user_id, m.memory, m.topics::text, m.created_at, m.updated_at, "
    "m.created_session_id, m.created_run_id, m.updated_session_id, m.updated_run_id"
)
_FIRST_CHUNK = 50  # rows recent_memories reads first; the next read is sized from them
_EVENT_COLS = "id, memory_id, user_id, action, before, after, actor, run_id, created_at"
# For each word: the ids of one user's memories matching it (stemmed), up to a
# cap; and how many memories the user has. One round trip.
_WORD_MATCHES = (
    "SELECT w.word, array(SELECT m.id FROM memories m WHERE m.user_id = %(user)s "
    "AND numnode(w.q) > 0 AND m.search @@ w.q LIMIT %(cap)s) "
    "FROM (SELECT word, plainto_tsquery('english', word) AS q "
    "FROM unnest(%(words)s::text[]) AS word) w "
    "UNION ALL SELECT NULL, array[coalesce("
    "(SELECT memories FROM memory_counts WHERE user_id = %(user)s), 0)]"
)


class MemoryQueries(Database):
    # -- reading -------------------------------------------------------------
    @retrying
    def get_memory(self, user_id: str, memory_id: int) -> Memory:
        check_memory_id(user_id, memory_id)
        row = self.execute(
            f"SELECT {_COLS} FROM memories m WHERE m.user_id = %s AND m.id = %s",
            (user_id, memory_id),
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no memory {memory_id} for user {user_id!r}")
        return memory_record(row)

    def _locked(self, conn: psycopg.Connection, user_id: str, memory_id: int) -> Memory:
        check_memory_id(user_id, memory_id)
        row = conn.execute(
            f"SELECT {_COLS} FROM memories m WHERE m.user_id = %s AND m.id = %s FOR UPDATE",
            (user_id, memory_id),
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no memory {memory_id} for user {user_id!r}")
        return memory_record(row)

    @retrying
    def list_memories(self, user_id: str, *, topic: str | None = None) -> list[Memory]:
        """The user's memories, oldest first; with ``topic``, those carrying it."""
        query = f"SELECT {_COLS} FROM memories m WHERE m.user_id = %s"
        params: list[Any] = [user_id]
        if topic is not None:
            query += " AND m.topics @> %s::jsonb"
            params.append(json.dumps([topic]))
        rows = self.execute(query + " ORDER BY m.id", params).fetchall()
        return [memory_record(r) for r in rows]

    @retrying
    def count_memories(self, user_id: str) -> int:
        row = self.execute("SELECT count(*) FROM memories WHERE user_id = %s", (user_id,))
        return int(row.fetchone()[0])  # type: ignore[index]

    @retrying
    def recent_memories(self, user_id: str, max_chars: int) -> tuple[list[Memory], bool]:
        """The newest memories whose text adds up to at most ``max_chars``, newest first,
        and whether that is all of them. Reads in chunks, only as far as they fit."""
        chosen: list[Memory] = []
        used, offset, chunk = 0, 0, _FIRST_CHUNK
        while True:
            rows = self.execute(
                f"SELECT {_COLS} FROM memories m WHERE m.user_id = %s "
                "ORDER BY m.updated_at DESC, m.id DESC LIMIT %s OFFSET %s",
                (user_id, chunk, offset),
            ).fetchall()
            for row in rows:
                used += len(row[2])
                if used > max_chars:
                    return chosen, False
                chosen.append(memory_record(row))
            if len(rows) < chunk:
                return chosen, True
            offset += chunk
            # Enough rows, at their average length so far, to fill what is left.
            average = max(used / max(len(chosen), 1), 1.0)
            chunk = int((max_chars - used) / average * 1.25) + 2

    @retrying
    def relevant_memories(self, user_id: str, text: str, limit: int) -> list[tuple[Memory, float]]:
        """This user's memories relevant to ``text``, best first, scored in (0, 1].

        Each word is matched through the index's own English stemming (so
        "painted" finds "paint"), counting only this user's memories, and ranked
        by :func:`~agentcli.core.text.score_matches`: no statistic of another
        user's memories enters the order.
        """
        words = search_words(text)
        if not words:
            return []
        rows = self.execute(
            _WORD_MATCHES, {"user": user_id, "words": words, "cap": MAX_MATCHED_ROWS + 1}
        ).fetchall()
        matches = {word: list(ids) for word, ids in rows if word is not None}
        total = next(int(ids[0]) for word, ids in rows if word is None)
        chosen = rarest_first(matches)
        if not chosen:
            return []
        ranked = score_matches({w: matches[w] for w in chosen}, total)[:limit]
        ids = [i for i, _ in ranked]
        found = self.execute(
            f"SELECT {_COLS} FROM memories m WHERE m.id = ANY(%s) AND m.user_id = %s",
            (ids, user_id),
        ).fetchall()
        by_id = {r[0]: memory_record(r) for r in found}
        return [(by_id[i], score) for i, score in ranked if i in by_id]

    @retrying
    def memory_events(self, user_id: str, memory_id: int) -> list[MemoryEvent]:
        """What happened to a memory, oldest first (also after it was deleted)."""
        check_memory_id(user_id, memory_id)
        rows = self.execute(
            f"SELECT {_EVENT_COLS} FROM memory_events WHERE user_id = %s AND memory_id = %s "
            "ORDER BY id",
            (user_id, memory_id),
        ).fetchall()
        if not rows:
            raise NotFoundError(f"no memory {memory_id} for user {user_id!r}")
        return [MemoryEvent(*r) for r in rows]

    # -- changing ------------------------------------------------------------
    @retrying
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
        topics = list(topics)
        with self.transaction() as conn:
            # Looked up first: an insert that meets a conflict still uses up an id.
            row = conn.execute(
                f"SELECT {_COLS} FROM memories m WHERE m.user_id = %s AND m.normalized = %s",
                (user_id, normalized),
            ).fetchone()
            if row is None:
                row = conn.execute(
                    "INSERT INTO memories AS m (user_id, memory, normalized, topics, created_at, "
                    "updated_at, created_session_id, created_run_id, updated_session_id, "
                    "updated_run_id) VALUES (%s, %s, %s, %s::jsonb, %s, %s, %s, %s, %s, %s) "
                    f"ON CONFLICT (user_id, normalized) DO NOTHING RETURNING {_COLS}",
                    (user_id, memory, normalized, topics_json(topics), now, now)
                    + (session_id, run_id) * 2,
                ).fetchone()
                if row is not None:
                    self._event(conn, row[0], user_id, "add", None, memory, actor, run_id, now)
                    return memory_record(row), True
                # Another process stored the same text a moment ago.
                row = conn.execute(
                    f"SELECT {_COLS} FROM memories m WHERE m.user_id = %s AND m.normalized = %s",
                    (user_id, normalized),
                ).fetchone()
            assert row is not None
            return memory_record(row), False

    @retrying
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
            old = self._locked(conn, user_id, memory_id)
            text = old.memory if memory is None else memory
            new_topics = old.topics if topics is None else list(topics)
            if text == old.memory and new_topics == old.topics:
                return old
            normalized = normalize_memory(text)
            clash = conn.execute(
                "SELECT id FROM memories WHERE user_id = %s AND normalized = %s AND id <> %s",
                (user_id, normalized, memory_id),
            ).fetchone()
            if clash is not None:
                raise DuplicateMemoryError(f"memory {clash[0]} already says that")
            try:
                with conn.transaction():  # a savepoint: a racing duplicate is reported
                    row = conn.execute(
                        "UPDATE memories m SET memory = %s, normalized = %s, topics = %s::jsonb, "
                        "updated_at = %s, updated_session_id = %s, updated_run_id = %s "
                        f"WHERE id = %s RETURNING {_COLS}",
                        (
                            text,
                            normalized,
                            topics_json(new_topics),
                            now,
                            session_id,
                            run_id,
                            memory_id,
                        ),
                    ).fetchone()
            except psycopg.errors.UniqueViolation:
                raise DuplicateMemoryError("another memory already says that") from None
            self._event(conn, memory_id, user_id, "update", old.memory, text, actor, run_id, now)
            assert row is not None
            return memory_record(row)

    def delete_memory(
        self, user_id: str, memory_id: int, *, actor: str, run_id: str | None = None
    ) -> Memory:
        with self.transaction() as conn:
            old = self._locked(conn, user_id, memory_id)
            conn.execute("DELETE FROM memories WHERE id = %s", (memory_id,))
            self._event(
                conn, memory_id, user_id, "delete", old.memory, None, actor, run_id, utcnow()
            )
        return old

    def clear_memories(self, user_id: str, *, actor: str) -> int:
        """Delete every memory of this user (no one else's); returns how many."""
        row = self.execute(
            "WITH gone AS (DELETE FROM memories WHERE user_id = %s RETURNING id, user_id, memory), "
            "logged AS (INSERT INTO memory_events (memory_id, user_id, action, before, after, "
            "actor, run_id, created_at) SELECT id, user_id, 'delete', memory, NULL, %s, NULL, %s "
            "FROM gone ORDER BY id) SELECT count(*) FROM gone",
            (user_id, actor, utcnow()),
        ).fetchone()
        return int(row[0]) if row else 0

    def import_memories(self, user_id: str, rows: Iterable[dict[str, Any]], *, actor: str) -> int:
        """Add many memories in one transaction, skipping those already stored.

        Each row has ``memory``, and optionally ``topics``, ``created_at`` and
        ``updated_at``. Returns how many were added.
        """
        now = utcnow()
        with self.transaction() as conn:
            # Known texts are skipped before inserting: an insert that meets a
            # conflict still uses up an id.
            seen = {
                r[0]
                for r in conn.execute(
                    "SELECT normalized FROM memories WHERE user_id = %s", (user_id,)
                )
            }
            texts, norms, topics, created, updated = [], [], [], [], []
            for row in rows:
                normalized = normalize_memory(row["memory"])
                if normalized in seen:
                    continue
                seen.add(normalized)
                texts.append(row["memory"])
                norms.append(normalized)
                topics.append(topics_json(row.get("topics") or []))
                created.append(row.get("created_at") or now)
                updated.append(row.get("updated_at") or row.get("created_at") or now)
            if not texts:
                return 0
            added = conn.execute(
                "WITH new AS (INSERT INTO memories (user_id, memory, normalized, topics, "
                "created_at, updated_at) SELECT %(user)s, t.memory, t.normalized, "
                "t.topics::jsonb, t.created_at::timestamptz, t.updated_at::timestamptz "
                "FROM unnest(%(texts)s::text[], %(norms)s::text[], %(topics)s::text[], "
                "%(created)s::text[], %(updated)s::text[]) "
                "WITH ORDINALITY AS t(memory, normalized, topics, created_at, updated_at, n) "
                "ORDER BY t.n ON CONFLICT (user_id, normalized) DO NOTHING "
                "RETURNING id, memory), "
                "logged AS (INSERT INTO memory_events (memory_id, user_id, action, before, after, "
                "actor, run_id, created_at) SELECT id, %(user)s, 'add', NULL, memory, %(actor)s, "
                "NULL, %(now)s FROM new ORDER BY id) SELECT count(*) FROM new",
                {
                    "user": user_id,
                    "texts": texts,
                    "norms": norms,
                    "topics": topics,
                    "created": created,
                    "updated": updated,
                    "actor": actor,
                    "now": now,
                },
            ).fetchone()
        return int(added[0]) if added else 0

    @staticmethod
    def _event(
        conn: psycopg.Connection,
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
            "run_id, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (memory_id, user_id, action, before, after, actor, run_id, now),
        )
