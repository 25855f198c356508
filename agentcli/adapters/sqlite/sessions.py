"""Queries on sessions, runs and messages."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from ...core.errors import NotFoundError
from ...core.records import Message, Run, SearchHit, Session, Usage
from ...core.text import title_from
from .db import Database, utcnow

_SESSION_COLS = (
    "s.id, s.user_id, s.session_id, s.name, s.created_at, s.updated_at, "
    "(SELECT count(*) FROM runs r WHERE r.session_pk = s.id), "
    "s.summary, s.summary_through, s.summary_updated_at"
)
# The same without counting the session's runs (0): a count walks all of them,
# and the per-run path must cost the same in a session of any length.
_SESSION_COLS_UNCOUNTED = (
    "s.id, s.user_id, s.session_id, s.name, s.created_at, s.updated_at, 0, "
    "s.summary, s.summary_through, s.summary_updated_at"
)
_RUN_COLS = (
    "id, run_id, session_pk, status, model, input_tokens, output_tokens, error, "
    "started_at, finished_at, duration_ms"
)
_ALL_CHARS = 2**31 - 1  # a substr() length beyond any stored text (SQLite caps text at 1e9)


def _session(row: tuple) -> Session:
    return Session(*row)


def _message(row: tuple) -> Message:
    run_pk, run_id, seq, role, content, created_at, status, tool_calls, tool_call_id = row
    return Message(
        run_pk=run_pk,
        run_id=run_id,
        seq=seq,
        role=role,
        content=content,
        created_at=created_at,
        status=status,
        tool_calls=json.loads(tool_calls) if tool_calls else None,
        tool_call_id=tool_call_id,
    )


class SessionQueries(Database):
    # -- sessions ------------------------------------------------------------
    def get_session(self, user_id: str, session_id: str) -> Session | None:
        row = self.execute(
            f"SELECT {_SESSION_COLS} FROM sessions s WHERE s.user_id = ? AND s.session_id = ?",
            (user_id, session_id),
        ).fetchone()
        return _session(row) if row else None

    def require_session(self, user_id: str, session_id: str) -> Session:
        found = self.get_session(user_id, session_id)
        if found is None:
            raise NotFoundError(f"no session {session_id!r} for user {user_id!r}")
        return found

    def ensure_session(self, user_id: str, session_id: str) -> Session:
        """The session, created if new; on every run's path, so its ``runs`` is not counted."""
        with self.transaction() as conn:
            now = utcnow()
            conn.execute(
                "INSERT OR IGNORE INTO sessions (user_id, session_id, created_at, updated_at) "
                "VALUES (?, ?, ?, ?)",
                (user_id, session_id, now, now),
            )
            row = conn.execute(
                f"SELECT {_SESSION_COLS_UNCOUNTED} FROM sessions s "
                "WHERE s.user_id = ? AND s.session_id = ?",
                (user_id, session_id),
            ).fetchone()
        return _session(row)

    def latest_session(self, user_id: str) -> Session | None:
        row = self.execute(
            f"SELECT {_SESSION_COLS} FROM sessions s WHERE s.user_id = ? "
            "ORDER BY s.updated_at DESC, s.id DESC LIMIT 1",
            (user_id,),
        ).fetchone()
        return _session(row) if row else None

    def list_sessions(self, user_id: str | None, limit: int | None = None) -> list[Session]:
        where, params = ("WHERE s.user_id = ?", [user_id]) if user_id is not None else ("", [])
        sql = (
            f"SELECT {_SESSION_COLS} FROM sessions s {where} ORDER BY s.updated_at DESC, s.id DESC"
        )
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [_session(r) for r in self.execute(sql, tuple(params)).fetchall()]

    def rename_session(self, user_id: str, session_id: str, name: str) -> Session:
        with self.transaction() as conn:
            found = self.require_session(user_id, session_id)
            conn.execute("UPDATE sessions SET name = ? WHERE id = ?", (name, found.pk))
        return self.require_session(user_id, session_id)

    def delete_session(self, user_id: str, session_id: str) -> Session:
        """Delete a session with its runs and messages; memories are kept."""
        with self.transaction() as conn:
            found = self.require_session(user_id, session_id)
            conn.execute("DELETE FROM sessions WHERE id = ?", (found.pk,))
        return found

    # -- runs ------------------------------------------------------------------
    def start_run(self, session: Session, user_message: str, model: str, owner: str) -> Run:
        """Store a new running run with its user message, in one transaction."""
        run_id = uuid.uuid4().hex
        with self.transaction() as conn:
            now = utcnow()  # taken under the write lock: times follow commit order
            cur = conn.execute(
                "INSERT INTO runs (run_id, session_pk, status, model, owner, started_at) "
                "VALUES (?, ?, 'running', ?, ?, ?)",
                (run_id, session.pk, model, owner, now),
            )
            run_pk = cur.lastrowid
            conn.execute(
                "INSERT INTO messages (run_pk, seq, role, content, created_at) "
                "VALUES (?, 0, 'user', ?, ?)",
                (run_pk, user_message, now),
            )
            conn.execute(
                "UPDATE sessions SET updated_at = ?, name = coalesce(name, ?) WHERE id = ?",
                (now, title_from(user_message), session.pk),
            )
        return Run(run_pk, run_id, session.pk, "running", model, 0, 0, None, now, None, None)

    def begin_run(
        self, user_id: str, session_id: str, user_message: str, model: str, owner: str
    ) -> tuple[Session, Run]:
        """The session (created if new) and a new running run with the user's message,
        in one transaction: what every run starts with."""
        with self.transaction():
            session = self.ensure_session(user_id, session_id)
            return session, self.start_run(session, user_message, model, owner)

    def finish_run(
        self,
        run_pk: int,
        *,
        status: str,
        messages: Iterable[dict[str, Any]] = (),
        model: str | None = None,
        usage: Usage | None = None,
        error: str | None = None,
        duration_ms: int | None = None,
    ) -> Run:
        """Store the rest of a run and its final status, in one transaction."""
        usage = usage or Usage()
        with self.transaction() as conn:
            now = utcnow()
            seq = conn.execute(
                "SELECT coalesce(max(seq), -1) FROM messages WHERE run_pk = ?", (run_pk,)
            ).fetchone()[0]
            for message in messages:
                seq += 1
                calls = message.get("tool_calls")
                conn.execute(
                    "INSERT INTO messages (run_pk, seq, role, content, tool_calls, "
                    "tool_call_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        run_pk,
                        seq,
                        message["role"],
                        message.get("content"),
                        json.dumps(calls) if calls else None,
                        message.get("tool_call_id"),
                        now,
                    ),
                )
            conn.execute(
                "UPDATE runs SET status = ?, model = coalesce(?, model), input_tokens = ?, "
                "output_tokens = ?, error = ?, owner = NULL, finished_at = ?, duration_ms = ? "
                "WHERE id = ?",
                (
                    status,
                    model,
                    usage.input_tokens,
                    usage.output_tokens,
                    error,
                    now,
                    duration_ms,
                    run_pk,
                ),
            )
            conn.execute(
                "UPDATE sessions SET updated_at = ? WHERE id = "
                "(SELECT session_pk FROM runs WHERE id = ?)",
                (now, run_pk),
            )
        return self.get_run(run_pk)

    def get_run(self, run_pk: int) -> Run:
        row = self.execute(f"SELECT {_RUN_COLS} FROM runs WHERE id = ?", (run_pk,)).fetchone()
        if row is None:
            raise NotFoundError(f"no run {run_pk}")
        return Run(*row)

    def session_runs(self, session_pk: int) -> list[Run]:
        rows = self.execute(
            f"SELECT {_RUN_COLS} FROM runs WHERE session_pk = ? ORDER BY id", (session_pk,)
        ).fetchall()
        return [Run(*r) for r in rows]

    def mark_interrupted(self, is_alive: Callable[[str], bool]) -> int:
        """Mark runs left ``running`` by a process that is gone; returns how many."""
        running = self.execute("SELECT id, owner FROM runs WHERE status = 'running'").fetchall()
        dead = [pk for pk, owner in running if not is_alive(owner or "")]
        if not dead:
            return 0
        with self.transaction() as conn:
            conn.executemany(
                "UPDATE runs SET status = 'interrupted', owner = NULL, "
                "error = coalesce(error, 'the process running it ended') "
                "WHERE id = ? AND status = 'running'",
                [(pk,) for pk in dead],
            )
        return len(dead)

    # -- messages ----------------------------------------------------------------
    def context_runs(
        self, session_pk: int, *, limit: int | None, after_run_pk: int | None = None
    ) -> list[list[Message]]:
        """Messages of the last ``limit`` completed runs after ``after_run_pk``, oldest first.

        Uses the (session_pk, status, id) index: the cost does not depend on
        how long the session is.
        """
        if limit == 0:
            return []
        sql = "SELECT id FROM runs WHERE session_pk = ? AND status = 'completed' AND id > ? "
        sql += "ORDER BY id DESC"
        params: list[Any] = [session_pk, after_run_pk or 0]
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        with self.reading() as conn:
            run_pks = [r[0] for r in conn.execute(sql, params).fetchall()]
            return self.messages_by_run(run_pks)

    def messages_by_run(
        self, run_pks: list[int], *, max_chars: int | None = None
    ) -> list[list[Message]]:
        """The messages of these runs grouped by run, oldest first.

        With ``max_chars``, at most ``max_chars + 1`` characters of each message
        are read (a longer one shows as cut), so one huge message stays cheap.
        """
        if not run_pks:
            return []
        marks = ",".join("?" * len(run_pks))
        length = _ALL_CHARS if max_chars is None else max_chars + 1
        rows = self.execute(
            "SELECT m.run_pk, r.run_id, m.seq, m.role, substr(m.content, 1, ?), m.created_at, "
            "r.status, m.tool_calls, m.tool_call_id FROM messages m JOIN runs r ON r.id = m.run_pk "
            f"WHERE m.run_pk IN ({marks}) ORDER BY m.run_pk, m.seq",
            (length, *run_pks),
        ).fetchall()
        grouped: dict[int, list[Message]] = {}
        for row in rows:
            message = _message(row)
            grouped.setdefault(message.run_pk, []).append(message)
        return [grouped[pk] for pk in sorted(grouped)]

    def session_messages(self, session_pk: int, last_runs: int | None = None) -> list[Message]:
        """Every message of a session (or of its last runs), in order, with run status."""
        where = "r.session_pk = ?"
        params: list[Any] = [session_pk]
        if last_runs is not None:
            where += (
                " AND r.id IN (SELECT id FROM runs WHERE session_pk = ? ORDER BY id DESC LIMIT ?)"
            )
            params += [session_pk, last_runs]
        rows = self.execute(
            "SELECT m.run_pk, r.run_id, m.seq, m.role, m.content, m.created_at, r.status, "
            "m.tool_calls, m.tool_call_id FROM messages m JOIN runs r ON r.id = m.run_pk "
            f"WHERE {where} ORDER BY m.run_pk, m.seq",
            tuple(params),
        ).fetchall()
        return [_message(r) for r in rows]

    def search_messages(self, query: str, user_id: str | None, limit: int = 20) -> list[SearchHit]:
        """Full-text search over message text, best match first."""
        where, params = ("AND s.user_id = ?", [user_id]) if user_id is not None else ("", [])
        sql = (
            "SELECT s.user_id, s.session_id, r.run_id, m.role, "
            "snippet(messages_fts, 0, char(1), char(2), '…', 12), m.created_at, "
            "bm25(messages_fts) AS rank "
            "FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid "
            "JOIN runs r ON r.id = m.run_pk JOIN sessions s ON s.id = r.session_pk "
            f"WHERE messages_fts MATCH ? {where} ORDER BY rank LIMIT ?"
        )
        try:
            rows = self.execute(sql, (fts_query(query, any_word=False), *params, limit)).fetchall()
        except sqlite3.OperationalError:
            return []
        return [SearchHit(*r) for r in rows]

    # -- usage -------------------------------------------------------------------
    def session_usage(self, session_pk: int) -> Usage:
        """Tokens of a session: its runs plus its summary and memory calls."""
        runs = self.execute(
            "SELECT coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0), count(*) "
            "FROM runs WHERE session_pk = ?",
            (session_pk,),
        ).fetchone()
        calls = self.execute(
            "SELECT coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0), count(*) "
            "FROM model_calls WHERE session_pk = ?",
            (session_pk,),
        ).fetchone()
        return Usage(*runs) + Usage(*calls)

    def record_model_call(
        self,
        *,
        user_id: str,
        session_pk: int | None,
        run_pk: int | None,
        purpose: str,
        status: str,
        model: str | None,
        usage: Usage,
        error: str | None = None,
        duration_ms: int | None = None,
    ) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO model_calls (user_id, session_pk, run_pk, purpose, status, model, "
                "input_tokens, output_tokens, error, created_at, duration_ms) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    user_id,
                    session_pk,
                    run_pk,
                    purpose,
                    status,
                    model,
                    usage.input_tokens,
                    usage.output_tokens,
                    error,
                    utcnow(),
                    duration_ms,
                ),
            )


def fts_query(text: str, *, any_word: bool = True) -> str:
    """Turn free text into an FTS5 query of quoted words (never FTS5 syntax from input).

    With ``any_word`` a row matching any word matches; otherwise it must match all.
    """
    words = "".join(c if c.isalnum() else " " for c in text).split()
    return (" OR " if any_word else " ").join(f'"{w}"' for w in words) or '""'
