"""Queries on rolling session summaries: functions of a connection.

A session's summary covers every completed run up to and including the run
``sessions.summary_through`` (a run pk); the context carries the completed
runs after it verbatim. Every query here goes through the primary key or the
``runs (session_pk, status, id)`` index, so its cost does not depend on how
long the session is (except :func:`count_completed_runs`, used by the CLI).
"""

from __future__ import annotations

from sqlite3 import Connection
from typing import Any

from ...core.errors import NotFoundError
from ...core.records import SummaryState
from .db import utcnow

_NO_PK = 2**63 - 1  # above every run pk


def summary_state(conn: Connection, session_pk: int) -> SummaryState:
    """The session's summary as stored now (one row by primary key)."""
    row = conn.execute(
        "SELECT s.summary, s.summary_through, r.run_id, s.summary_updated_at "
        "FROM sessions s LEFT JOIN runs r ON r.id = s.summary_through WHERE s.id = ?",
        (session_pk,),
    ).fetchone()
    if row is None:
        raise NotFoundError(f"no session {session_pk}")
    return SummaryState(session_pk, *row)


def runs_to_fold(
    conn: Connection, session_pk: int, *, after_pk: int | None, keep: int, limit: int
) -> list[int]:
    """Pks of completed runs after ``after_pk`` that are not among the newest ``keep``.

    Oldest first, at most ``limit``. None at or past a run still running:
    it may complete later, and a summary must never pass a run that could
    still enter the context. Call within a read (three statements).
    """
    after = after_pk or 0
    upper = None
    if keep > 0:
        row = conn.execute(
            "SELECT id FROM runs WHERE session_pk = ? AND status = 'completed' AND id > ? "
            "ORDER BY id DESC LIMIT 1 OFFSET ?",
            (session_pk, after, keep - 1),
        ).fetchone()
        if row is None:
            return []
        upper = row[0]
    running = conn.execute(
        "SELECT min(id) FROM runs WHERE session_pk = ? AND status = 'running' AND id > ?",
        (session_pk, after),
    ).fetchone()[0]
    below = min(b for b in (upper, running, _NO_PK) if b is not None)
    rows = conn.execute(
        "SELECT id FROM runs WHERE session_pk = ? AND status = 'completed' "
        "AND id > ? AND id < ? ORDER BY id LIMIT ?",
        (session_pk, after, below, limit),
    ).fetchall()
    return [r[0] for r in rows]


def set_summary(
    conn: Connection,
    session_pk: int,
    summary: str,
    *,
    through_pk: int,
    expected_through: int | None,
) -> bool:
    """Store a summary covering runs up to ``through_pk``.

    Compare-and-set: only if the summary still covers ``expected_through``
    (what the fold started from), so two processes folding at once never
    move it backwards or fold the same runs twice. Returns whether it was stored.
    """
    cur = conn.execute(
        "UPDATE sessions SET summary = ?, summary_through = ?, summary_updated_at = ? "
        "WHERE id = ? AND summary_through IS ?",
        (summary, through_pk, utcnow(), session_pk, expected_through),
    )
    return cur.rowcount == 1


def count_completed_runs(conn: Connection, session_pk: int, *, through_pk: int | None) -> int:
    """Completed runs of a session (up to ``through_pk`` when given)."""
    sql = "SELECT count(*) FROM runs WHERE session_pk = ? AND status = 'completed'"
    params: list[Any] = [session_pk]
    if through_pk is not None:
        sql += " AND id <= ?"
        params.append(through_pk)
    count: int = conn.execute(sql, params).fetchone()[0]
    return count
