"""Queries on sessions, runs and messages: functions of a connection.

They neither open nor end transactions; :class:`~.store.SqliteDb` decides
which run together.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from sqlite3 import Connection
from typing import Any

from ...core.errors import NotFoundError, RunGoneError
from ...core.records import Message, Run, SearchHit, Session, Usage
from ...core.text import title_from
from ..rows import message_record
from .db import fts_query, utcnow

_SESSION_COLS = (
    "s.id, s.user_id, s.session_id, s.name, s.created_at, s.updated_at, "
    "(SELECT count(*) FROM runs r WHERE r.session_pk = s.id), "
    "s.summary, s.summary_through, s.summary_updated_at, s.instructions, s.role"
)
# The same without counting the session's runs (0): a count walks all of them,
# and the per-run path must cost the same in a session of any length.
_SESSION_COLS_UNCOUNTED = (
    "s.id, s.user_id, s.session_id, s.name, s.created_at, s.updated_at, 0, "
    "s.summary, s.summary_through, s.summary_updated_at, s.instructions, s.role"
)
_RUN_COLS = (
    "id, run_id, session_pk, status, model, input_tokens, output_tokens, error, "
    "started_at, finished_at, duration_ms, attachments"
)
_ALL_CHARS = 2**31 - 1  # a substr() length beyond any stored text (SQLite caps text at 1e9)


def _session(row: tuple[Any, ...]) -> Session:
    return Session(*row)


def run_record(row: tuple[Any, ...]) -> Run:
    """A ``runs`` row read with ``_RUN_COLS``: its attachments decoded."""
    return Run._make((*row[:-1], json.loads(row[-1]) if row[-1] else None))


# -- sessions ------------------------------------------------------------------
def get_session(conn: Connection, user_id: str, session_id: str) -> Session | None:
    row = conn.execute(
        f"SELECT {_SESSION_COLS} FROM sessions s WHERE s.user_id = ? AND s.session_id = ?",
        (user_id, session_id),
    ).fetchone()
    return _session(row) if row else None


def require_session(conn: Connection, user_id: str, session_id: str) -> Session:
    found = get_session(conn, user_id, session_id)
    if found is None:
        raise NotFoundError(f"no session {session_id!r} for user {user_id!r}")
    return found


def ensure_session(conn: Connection, user_id: str, session_id: str) -> Session:
    """The session, created if new; on every run's path, so its ``runs`` is not counted.
    Call within a transaction."""
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


def set_session_settings(
    conn: Connection, session: Session, *, instructions: str | None, role: str | None
) -> Session:
    """Change a session's instructions and/or role (``None``: unchanged; ``""``: cleared).
    Call within a transaction."""
    if instructions is not None:
        conn.execute(
            "UPDATE sessions SET instructions = ? WHERE id = ?", (instructions or None, session.pk)
        )
        session = session._replace(instructions=instructions or None)
    if role is not None:
        conn.execute("UPDATE sessions SET role = ? WHERE id = ?", (role or None, session.pk))
        session = session._replace(role=role or None)
    return session


def latest_session(conn: Connection, user_id: str) -> Session | None:
    row = conn.execute(
        f"SELECT {_SESSION_COLS} FROM sessions s WHERE s.user_id = ? "
        # not one whose every run failed: there is nothing in it to continue
        "AND (EXISTS (SELECT 1 FROM runs r WHERE r.session_pk = s.id AND r.status <> 'error') "
        "OR NOT EXISTS (SELECT 1 FROM runs r WHERE r.session_pk = s.id)) "
        "ORDER BY s.updated_at DESC, s.id DESC LIMIT 1",
        (user_id,),
    ).fetchone()
    return _session(row) if row else None


def list_sessions(conn: Connection, user_id: str | None, limit: int | None) -> list[Session]:
    where, params = "", list[Any]()
    if user_id is not None:
        where, params = "WHERE s.user_id = ?", [user_id]
    sql = f"SELECT {_SESSION_COLS} FROM sessions s {where} ORDER BY s.updated_at DESC, s.id DESC"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return [_session(r) for r in conn.execute(sql, params).fetchall()]


def count_sessions(conn: Connection, user_id: str | None) -> int:
    if user_id is None:
        return int(conn.execute("SELECT count(*) FROM sessions").fetchone()[0])
    sql = "SELECT count(*) FROM sessions WHERE user_id = ?"
    return int(conn.execute(sql, (user_id,)).fetchone()[0])


def rename_session(conn: Connection, user_id: str, session_id: str, name: str) -> Session:
    """Call within a transaction."""
    found = require_session(conn, user_id, session_id)
    conn.execute("UPDATE sessions SET name = ? WHERE id = ?", (name, found.pk))
    return require_session(conn, user_id, session_id)


def delete_session(conn: Connection, user_id: str, session_id: str) -> Session:
    """Delete a session with its runs and messages; memories are kept. Call within a
    transaction."""
    found = require_session(conn, user_id, session_id)
    conn.execute("DELETE FROM sessions WHERE id = ?", (found.pk,))
    return found


# -- runs ----------------------------------------------------------------------
def start_run(
    conn: Connection,
    session: Session,
    user_message: str,
    model: str,
    owner: str,
    *,
    attachments: list[dict[str, Any]] | None = None,
) -> Run:
    """Store a new running run with its user message. Call within a transaction."""
    run_id = uuid.uuid4().hex
    now = utcnow()  # taken under the write lock: times follow commit order
    run_pk = conn.execute(
        "INSERT INTO runs (run_id, session_pk, status, model, owner, started_at, attachments) "
        "VALUES (?, ?, 'running', ?, ?, ?, ?)",
        (run_id, session.pk, model, owner, now, json.dumps(attachments) if attachments else None),
    ).lastrowid
    assert run_pk is not None
    conn.execute(
        "INSERT INTO messages (run_pk, seq, role, content, created_at) VALUES (?, 0, 'user', ?, ?)",
        (run_pk, user_message, now),
    )
    conn.execute(
        "UPDATE sessions SET updated_at = ?, name = coalesce(name, ?) WHERE id = ?",
        (now, title_from(user_message), session.pk),
    )
    return Run(
        run_pk, run_id, session.pk, "running", model, 0, 0, None, now, None, None, attachments
    )


def finish_run(
    conn: Connection,
    run_pk: int,
    *,
    status: str,
    messages: Iterable[dict[str, Any]],
    model: str | None,
    usage: Usage,
    error: str | None,
    duration_ms: int | None,
    settings: dict[str, Any] | None = None,
) -> Run:
    """Store the rest of a run and its final status. Call within a transaction.

    ``RunGoneError`` when the run is no longer stored (its session was deleted).
    """
    if conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_pk,)).fetchone() is None:
        raise RunGoneError(f"run {run_pk} is no longer stored: its session was deleted")
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
        "output_tokens = ?, error = ?, owner = NULL, finished_at = ?, duration_ms = ?, "
        "settings = coalesce(?, settings) WHERE id = ?",
        (
            status,
            model,
            usage.input_tokens,
            usage.output_tokens,
            error,
            now,
            duration_ms,
            json.dumps(settings) if settings is not None else None,
            run_pk,
        ),
    )
    conn.execute(
        "UPDATE sessions SET updated_at = ? WHERE id = (SELECT session_pk FROM runs WHERE id = ?)",
        (now, run_pk),
    )
    return get_run(conn, run_pk)


def get_run(conn: Connection, run_pk: int) -> Run:
    row = conn.execute(f"SELECT {_RUN_COLS} FROM runs WHERE id = ?", (run_pk,)).fetchone()
    if row is None:
        raise NotFoundError(f"no run {run_pk}")
    return run_record(row)


def run_settings(conn: Connection, session_pk: int) -> dict[str, dict[str, Any]]:
    """The settings each run of a session recorded, by run id (runs without any left out)."""
    rows = conn.execute(
        "SELECT run_id, settings FROM runs WHERE session_pk = ? AND settings IS NOT NULL "
        "ORDER BY id",
        (session_pk,),
    ).fetchall()
    return {run_id: json.loads(text) for run_id, text in rows}


def running_runs(conn: Connection) -> list[tuple[int, str]]:
    """(pk, owner) of every run still marked running."""
    rows = conn.execute("SELECT id, owner FROM runs WHERE status = 'running'").fetchall()
    return [(pk, owner or "") for pk, owner in rows]


def mark_interrupted(conn: Connection, run_pks: list[int]) -> None:
    """Mark these runs interrupted, those still running. Call within a transaction."""
    conn.executemany(
        "UPDATE runs SET status = 'interrupted', owner = NULL, "
        "error = coalesce(error, 'the process running it ended') "
        "WHERE id = ? AND status = 'running'",
        [(pk,) for pk in run_pks],
    )


# -- messages --------------------------------------------------------------------
def context_runs(
    conn: Connection, session_pk: int, *, limit: int | None, after_run_pk: int | None
) -> list[list[Message]]:
    """Messages of the last ``limit`` completed runs after ``after_run_pk``, oldest first.

    Uses the (session_pk, status, id) index: the cost does not depend on
    how long the session is. Call within a read (two statements).
    """
    if limit == 0:
        return []
    sql = "SELECT id FROM runs WHERE session_pk = ? AND status = 'completed' AND id > ? "
    sql += "ORDER BY id DESC"
    params: list[Any] = [session_pk, after_run_pk or 0]
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    run_pks = [r[0] for r in conn.execute(sql, params).fetchall()]
    return messages_by_run(conn, run_pks, max_chars=None)


def messages_by_run(
    conn: Connection, run_pks: list[int], *, max_chars: int | None
) -> list[list[Message]]:
    """The messages of these runs grouped by run, oldest first.

    With ``max_chars``, at most ``max_chars + 1`` characters of each message
    are read (a longer one shows as cut), so one huge message stays cheap.
    """
    if not run_pks:
        return []
    marks = ",".join("?" * len(run_pks))
    length = _ALL_CHARS if max_chars is None else max_chars + 1
    rows = conn.execute(
        "SELECT m.run_pk, r.run_id, m.seq, m.role, substr(m.content, 1, ?), m.created_at, "
        "r.status, m.tool_calls, m.tool_call_id FROM messages m JOIN runs r ON r.id = m.run_pk "
        f"WHERE m.run_pk IN ({marks}) ORDER BY m.run_pk, m.seq",
        (length, *run_pks),
    ).fetchall()
    grouped: dict[int, list[Message]] = {}
    for row in rows:
        message = message_record(row)
        grouped.setdefault(message.run_pk, []).append(message)
    return [grouped[pk] for pk in sorted(grouped)]


def session_messages(conn: Connection, session_pk: int, last_runs: int | None) -> list[Message]:
    """Every message of a session (or of its last runs), in order, with run status."""
    where = "r.session_pk = ?"
    params: list[Any] = [session_pk]
    if last_runs is not None:
        where += " AND r.id IN (SELECT id FROM runs WHERE session_pk = ? ORDER BY id DESC LIMIT ?)"
        params += [session_pk, last_runs]
    rows = conn.execute(
        "SELECT m.run_pk, r.run_id, m.seq, m.role, m.content, m.created_at, r.status, "
        "m.tool_calls, m.tool_call_id, r.model, r.attachments FROM messages m "
        f"JOIN runs r ON r.id = m.run_pk WHERE {where} ORDER BY m.run_pk, m.seq",
        params,
    ).fetchall()
    return [message_record(r) for r in rows]


def search_messages(
    conn: Connection, query: str, user_id: str | None, limit: int
) -> list[SearchHit]:
    """Full-text search over message text, best match first.

    The query is made of quoted words only (:func:`fts_query`), so it is never
    an FTS5 syntax error: any error here is the database's, and is raised.
    CROSS JOIN keeps the full-text index the outer loop (see ``memories``).
    """
    where, params = ("AND s.user_id = ?", [user_id]) if user_id is not None else ("", [])
    sql = (
        "SELECT s.user_id, s.session_id, r.run_id, m.role, "
        "snippet(messages_fts, 0, char(1), char(2), '…', 12), m.created_at, "
        "bm25(messages_fts) AS rank "
        "FROM messages_fts CROSS JOIN messages m ON m.id = messages_fts.rowid "
        "JOIN runs r ON r.id = m.run_pk JOIN sessions s ON s.id = r.session_pk "
        f"WHERE messages_fts MATCH ? {where} ORDER BY rank LIMIT ?"
    )
    rows = conn.execute(sql, (fts_query(query, any_word=False), *params, limit)).fetchall()
    return [SearchHit(*r) for r in rows]


# -- usage ---------------------------------------------------------------------
def session_usage(conn: Connection, session_pk: int) -> Usage:
    """Tokens of a session: its runs plus its summary and memory calls."""
    runs = conn.execute(
        "SELECT coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0), count(*) "
        "FROM runs WHERE session_pk = ?",
        (session_pk,),
    ).fetchone()
    calls = conn.execute(
        "SELECT coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0), count(*) "
        "FROM model_calls WHERE session_pk = ?",
        (session_pk,),
    ).fetchone()
    return Usage(*runs) + Usage(*calls)


def record_model_call(
    conn: Connection,
    *,
    user_id: str,
    session_pk: int | None,
    run_pk: int | None,
    purpose: str,
    status: str,
    model: str | None,
    usage: Usage,
    error: str | None,
    duration_ms: int | None,
) -> None:
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
