"""Queries on rolling session summaries.

A session's summary covers every completed run up to and including the run
``sessions.summary_through`` (a run pk); the context carries the completed
runs after it verbatim. Every query here goes through the primary key or the
``runs (session_pk, status, id)`` index, so its cost does not depend on how
long the session is (except the ``count_*`` helpers used by the CLI).
"""

from __future__ import annotations

from ...core.errors import NotFoundError
from ...core.records import SummaryState
from .db import Database, retrying, utcnow


class SummaryQueries(Database):
    @retrying
    def summary_state(self, session_pk: int) -> SummaryState:
        """The session's summary as stored now (one row by primary key)."""
        row = self.execute(
            "SELECT s.summary, s.summary_through, r.run_id, s.summary_updated_at "
            "FROM sessions s LEFT JOIN runs r ON r.id = s.summary_through WHERE s.id = %s",
            (session_pk,),
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no session {session_pk}")
        return SummaryState(session_pk, *row)

    @retrying
    def runs_to_fold(
        self, session_pk: int, *, after_pk: int | None, keep: int, limit: int
    ) -> list[int]:
        """Pks of completed runs after ``after_pk`` that are not among the newest ``keep``.

        Oldest first, at most ``limit``. None at or past a run still running:
        it may complete later, and a summary must never pass a run that could
        still enter the context. One statement, so one snapshot.
        """
        rows = self.execute(
            "WITH upper_run AS (SELECT CASE WHEN %(keep)s > 0 THEN (SELECT id FROM runs "
            "WHERE session_pk = %(s)s AND status = 'completed' AND id > %(after)s "
            "ORDER BY id DESC LIMIT 1 OFFSET greatest(%(keep)s - 1, 0)) END AS id), "
            "running AS (SELECT min(id) AS id FROM runs WHERE session_pk = %(s)s "
            "AND status = 'running' AND id > %(after)s) "
            "SELECT r.id FROM runs r, upper_run u, running g WHERE r.session_pk = %(s)s "
            "AND r.status = 'completed' AND r.id > %(after)s "
            "AND (%(keep)s = 0 OR u.id IS NOT NULL) "
            "AND r.id < least(coalesce(u.id, %(top)s), coalesce(g.id, %(top)s)) "
            "ORDER BY r.id LIMIT %(limit)s",
            {
                "s": session_pk,
                "after": after_pk or 0,
                "keep": keep,
                "limit": limit,
                "top": 2**63 - 1,
            },
        ).fetchall()
        return [r[0] for r in rows]

    def set_summary(
        self, session_pk: int, summary: str, *, through_pk: int, expected_through: int | None
    ) -> bool:
        """Store a summary covering runs up to ``through_pk``.

        Compare-and-set: only if the summary still covers ``expected_through``
        (what the fold started from), so two processes folding at once never
        move it backwards or fold the same runs twice. Returns whether it was stored.
        """
        rows = self.execute(
            "UPDATE sessions SET summary = %s, summary_through = %s, summary_updated_at = %s "
            "WHERE id = %s AND summary_through IS NOT DISTINCT FROM %s",
            (summary, through_pk, utcnow(), session_pk, expected_through),
        )
        return rows.rowcount == 1

    @retrying
    def count_completed_runs(self, session_pk: int, *, through_pk: int | None = None) -> int:
        """Completed runs of a session (up to ``through_pk`` when given)."""
        query = "SELECT count(*) FROM runs WHERE session_pk = %s AND status = 'completed'"
        params: tuple = (session_pk,)
        if through_pk is not None:
            query += " AND id <= %s"
            params += (through_pk,)
        row = self.execute(query, params).fetchone()
        return int(row[0]) if row else 0
