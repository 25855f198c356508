"""Queries on sessions, runs and messages.

The per-run path is a few round trips whatever the session's length: a run
begins in one statement (session upsert, run, user message) and finishes in
one (status, messages, session time), and the context window is one indexed
query.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from ...core.errors import NotFoundError, RunGoneError
from ...core.records import Message, Run, SearchHit, Session, Usage
from ...core.text import title_from
from ..rows import message_record
from .db import Database, retrying, utcnow
from .schema import INDEXED_CHARS

_SESSION_FIELDS = (
    "id, user_id, session_id, name, created_at, updated_at, {runs}, "
    "summary, summary_through, summary_updated_at, instructions, role"
)
_SESSION_COLS = (
    "s.id, s.user_id, s.session_id, s.name, s.created_at, s.updated_at, "
    "(SELECT count(*) FROM runs r WHERE r.session_pk = s.id), "
    "s.summary, s.summary_through, s.summary_updated_at, s.instructions, s.role"
)
_RUN_COLS = (
    "id, run_id, session_pk, status, model, input_tokens, output_tokens, error, "
    "started_at, finished_at, duration_ms, attachments"
)
_MESSAGE_COLS = (
    "m.run_pk, r.run_id, m.seq, m.role, {content}, m.created_at, r.status, "
    "m.tool_calls, m.tool_call_id"
)
# What ts_headline marks a match with: the same marks as the SQLite store's snippet.
_HEADLINE = (
    "StartSel=\x01, StopSel=\x02, MaxWords=12, MinWords=4, MaxFragments=1, "
    "ShortWord=0, FragmentDelimiter=' … '"
)


def _session(row: tuple) -> Session:
    return Session(*row)


def search_text(text: str) -> str:
    """The words of a search, as ``plainto_tsquery`` reads them (never query syntax)."""
    return " ".join("".join(c if c.isalnum() else " " for c in text).split())


class SessionQueries(Database):
    # -- sessions ------------------------------------------------------------
    @retrying
    def get_session(self, user_id: str, session_id: str) -> Session | None:
        row = self.execute(
            f"SELECT {_SESSION_COLS} FROM sessions s WHERE s.user_id = %s AND s.session_id = %s",
            (user_id, session_id),
        ).fetchone()
        return _session(row) if row else None

    def require_session(self, user_id: str, session_id: str) -> Session:
        found = self.get_session(user_id, session_id)
        if found is None:
            raise NotFoundError(f"no session {session_id!r} for user {user_id!r}")
        return found

    @retrying
    def ensure_session(self, user_id: str, session_id: str) -> Session:
        """The session, created if new (its ``runs`` not counted)."""
        now = utcnow()
        row = self.execute(
            "INSERT INTO sessions (user_id, session_id, created_at, updated_at) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (user_id, session_id) "
            "DO UPDATE SET user_id = excluded.user_id RETURNING "
            + _SESSION_FIELDS.format(runs="0"),
            (user_id, session_id, now, now),
        ).fetchone()
        assert row is not None
        return _session(row)

    @retrying
    def latest_session(self, user_id: str) -> Session | None:
        row = self.execute(
            f"SELECT {_SESSION_COLS} FROM sessions s WHERE s.user_id = %s "
            # not one whose every run failed: there is nothing in it to continue
            "AND (EXISTS (SELECT 1 FROM runs r WHERE r.session_pk = s.id AND r.status <> 'error') "
            "OR NOT EXISTS (SELECT 1 FROM runs r WHERE r.session_pk = s.id)) "
            "ORDER BY s.updated_at DESC, s.id DESC LIMIT 1",
            (user_id,),
        ).fetchone()
        return _session(row) if row else None

    @retrying
    def count_sessions(self, user_id: str | None) -> int:
        if user_id is None:
            row = self.execute("SELECT count(*) FROM sessions").fetchone()
        else:
            row = self.execute(
                "SELECT count(*) FROM sessions WHERE user_id = %s", (user_id,)
            ).fetchone()
        return int(row[0])  # type: ignore[index]

    @retrying
    def list_sessions(self, user_id: str | None, limit: int | None = None) -> list[Session]:
        params: list[Any] = [user_id] if user_id is not None else []
        where = "WHERE s.user_id = %s" if user_id is not None else ""
        query = (
            f"SELECT {_SESSION_COLS} FROM sessions s {where} ORDER BY s.updated_at DESC, s.id DESC"
        )
        if limit is not None:
            query += " LIMIT %s"
            params.append(limit)
        return [_session(r) for r in self.execute(query, params).fetchall()]

    def rename_session(self, user_id: str, session_id: str, name: str) -> Session:
        with self.transaction() as conn:
            found = self.require_session(user_id, session_id)
            conn.execute("UPDATE sessions SET name = %s WHERE id = %s", (name, found.pk))
        return self.require_session(user_id, session_id)

    def delete_session(self, user_id: str, session_id: str) -> Session:
        """Delete a session with its runs and messages; memories are kept."""
        with self.transaction() as conn:
            found = self.require_session(user_id, session_id)
            conn.execute("DELETE FROM sessions WHERE id = %s", (found.pk,))
        return found

    # -- runs ------------------------------------------------------------------
    def start_run(self, session: Session, user_message: str, model: str, owner: str) -> Run:
        """Store a new running run with its user message."""
        return self.begin_run(session.user_id, session.session_id, user_message, model, owner)[1]

    def begin_run(
        self,
        user_id: str,
        session_id: str,
        user_message: str,
        model: str,
        owner: str,
        *,
        attachments: list[dict[str, Any]] | None = None,
        instructions: str | None = None,
        role: str | None = None,
    ) -> tuple[Session, Run]:
        """The session (created if new) and a new running run with the user's message,
        in one statement: what every run starts with. ``instructions`` and ``role``,
        when given, become the session's (``""`` clears them)."""
        return self._begin_run(
            uuid.uuid4().hex,
            user_id,
            session_id,
            user_message,
            model,
            owner,
            attachments=attachments,
            instructions=instructions,
            role=role,
        )

    @retrying
    def _begin_run(
        self,
        run_id: str,
        user_id: str,
        session_id: str,
        user_message: str,
        model: str,
        owner: str,
        *,
        attachments: list[dict[str, Any]] | None = None,
        instructions: str | None = None,
        role: str | None = None,
    ) -> tuple[Session, Run]:
        # Safe to repeat: a second attempt after a commit whose answer was lost
        # finds the run by its id instead of storing the message twice. The run's
        # time is read after the session's row is locked, as its id is drawn: in
        # a session, start times follow the order runs are stored in.
        now = utcnow()
        row = self.execute(
            "WITH s AS (INSERT INTO sessions (user_id, session_id, name, created_at, updated_at, "
            "instructions, role) "
            "VALUES (%(user)s, %(session)s, %(title)s, %(now)s, %(now)s, "
            "nullif(%(instructions)s, ''), nullif(%(role)s, '')) "
            "ON CONFLICT (user_id, session_id) DO UPDATE SET updated_at = excluded.updated_at, "
            "name = coalesce(sessions.name, excluded.name), "
            "instructions = CASE WHEN %(set_instructions)s THEN excluded.instructions "
            "ELSE sessions.instructions END, "
            "role = CASE WHEN %(set_role)s THEN excluded.role ELSE sessions.role END RETURNING "
            + _SESSION_FIELDS.format(runs="0")
            + "), r AS (INSERT INTO runs (run_id, session_pk, status, model, owner, started_at, "
            "attachments) SELECT %(run_id)s, s.id, 'running', %(model)s, %(owner)s, "
            "date_trunc('milliseconds', clock_timestamp()), %(attachments)s::jsonb FROM s "
            "ON CONFLICT (run_id) DO NOTHING RETURNING id, started_at), "
            "m AS (INSERT INTO messages (run_pk, seq, role, content, created_at) "
            "SELECT r.id, 0, 'user', %(message)s, r.started_at FROM r) "
            "SELECT s.*, r.id, r.started_at FROM s LEFT JOIN r ON true",
            {
                "user": user_id,
                "session": session_id,
                "title": title_from(user_message),
                "now": now,
                "run_id": run_id,
                "model": model,
                "owner": owner,
                "message": user_message,
                "attachments": json.dumps(attachments) if attachments else None,
                "instructions": instructions,
                "set_instructions": instructions is not None,
                "role": role,
                "set_role": role is not None,
            },
        ).fetchone()
        assert row is not None
        session = _session(row[:12])
        if row[12] is None:  # stored by an attempt whose answer was lost
            found = self.execute(
                f"SELECT {_RUN_COLS} FROM runs WHERE run_id = %s", (run_id,)
            ).fetchone()
            assert found is not None
            return session, Run(*found)
        run = Run(
            row[12],
            run_id,
            session.pk,
            "running",
            model,
            0,
            0,
            None,
            row[13],
            None,
            None,
            attachments,
        )
        return session, run

    @retrying
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
        settings: dict[str, Any] | None = None,
    ) -> Run:
        """Store the rest of a run and its final status, in one statement; ``settings``
        are what the run was sent (instructions, role, options).

        Only a running run is finished: a second attempt (after a lost answer)
        changes nothing and returns the run as stored. ``RunGoneError`` when the
        run is no longer stored (its session was deleted).
        """
        usage = usage or Usage()
        batch = list(messages)
        calls = [m.get("tool_calls") for m in batch]
        row = self.execute(
            "WITH r AS (UPDATE runs SET status = %(status)s, model = coalesce(%(model)s, model), "
            "input_tokens = %(tin)s, output_tokens = %(tout)s, error = %(error)s, owner = NULL, "
            "finished_at = %(now)s, duration_ms = %(ms)s, "
            "settings = coalesce(%(settings)s, settings) "
            "WHERE id = %(pk)s AND status = 'running' RETURNING " + _RUN_COLS + "), "
            "base AS (SELECT coalesce(max(seq), -1) AS seq FROM messages WHERE run_pk = %(pk)s), "
            "ins AS (INSERT INTO messages (run_pk, seq, role, content, tool_calls, tool_call_id, "
            "created_at) SELECT r.id, base.seq + x.n, x.role, x.content, x.calls, x.call_id, "
            "%(now)s FROM r, base, unnest(%(roles)s::text[], %(contents)s::text[], "
            "%(calls)s::text[], %(call_ids)s::text[]) WITH ORDINALITY "
            "AS x(role, content, calls, call_id, n)), "
            "s AS (UPDATE sessions SET updated_at = %(now)s WHERE id = (SELECT session_pk FROM r)) "
            "SELECT * FROM r",
            {
                "status": status,
                "model": model,
                "tin": usage.input_tokens,
                "tout": usage.output_tokens,
                "error": error,
                "now": utcnow(),
                "ms": duration_ms,
                "settings": json.dumps(settings) if settings is not None else None,
                "pk": run_pk,
                "roles": [m["role"] for m in batch],
                "contents": [m.get("content") for m in batch],
                "calls": [json.dumps(c) if c else None for c in calls],
                "call_ids": [m.get("tool_call_id") for m in batch],
            },
        ).fetchone()
        if row is not None:
            return Run(*row)
        try:
            return self.get_run(run_pk)
        except NotFoundError:
            raise RunGoneError(
                f"run {run_pk} is no longer stored: its session was deleted"
            ) from None

    @retrying
    def run_settings(self, session_pk: int) -> dict[str, dict[str, Any]]:
        """What each run of a session was sent, by run id (runs without any left out)."""
        rows = self.execute(
            "SELECT run_id, settings FROM runs WHERE session_pk = %s AND settings IS NOT NULL "
            "ORDER BY id",
            (session_pk,),
        ).fetchall()
        return {run_id: json.loads(text) for run_id, text in rows}

    @retrying
    def get_run(self, run_pk: int) -> Run:
        row = self.execute(f"SELECT {_RUN_COLS} FROM runs WHERE id = %s", (run_pk,)).fetchone()
        if row is None:
            raise NotFoundError(f"no run {run_pk}")
        return Run(*row)

    @retrying
    def session_runs(self, session_pk: int) -> list[Run]:
        rows = self.execute(
            f"SELECT {_RUN_COLS} FROM runs WHERE session_pk = %s ORDER BY id", (session_pk,)
        ).fetchall()
        return [Run(*r) for r in rows]

    @retrying
    def mark_interrupted(self, is_alive: Callable[[str], bool]) -> int:
        """Mark runs left ``running`` by a process that is gone; returns how many."""
        running = self.execute("SELECT id, owner FROM runs WHERE status = 'running'").fetchall()
        dead = [pk for pk, owner in running if not is_alive(owner or "")]
        if not dead:
            return 0
        self.execute(
            "UPDATE runs SET status = 'interrupted', owner = NULL, "
            "error = coalesce(error, 'the process running it ended') "
            "WHERE id = ANY(%s) AND status = 'running'",
            (dead,),
        )
        return len(dead)

    # -- messages ----------------------------------------------------------------
    @retrying
    def context_runs(
        self, session_pk: int, *, limit: int | None, after_run_pk: int | None = None
    ) -> list[list[Message]]:
        """Messages of the last ``limit`` completed runs after ``after_run_pk``, oldest first.

        One query through the (session_pk, status, id) index: the cost does not
        depend on how long the session is.
        """
        if limit == 0:
            return []
        rows = self.execute(
            "SELECT " + _MESSAGE_COLS.format(content="m.content") + " FROM (SELECT id, run_id, "
            "status FROM runs WHERE session_pk = %s AND status = 'completed' AND id > %s "
            "ORDER BY id DESC LIMIT %s) r JOIN messages m ON m.run_pk = r.id "
            "ORDER BY m.run_pk, m.seq",
            (session_pk, after_run_pk or 0, limit),
        ).fetchall()
        return _grouped(rows)

    @retrying
    def messages_by_run(
        self, run_pks: list[int], *, max_chars: int | None = None
    ) -> list[list[Message]]:
        """The messages of these runs grouped by run, oldest first.

        With ``max_chars``, at most ``max_chars + 1`` characters of each message
        are read (a longer one shows as cut), so one huge message stays cheap.
        """
        if not run_pks:
            return []
        content = "m.content" if max_chars is None else "left(m.content, %s)"
        params: list[Any] = [] if max_chars is None else [max_chars + 1]
        rows = self.execute(
            "SELECT " + _MESSAGE_COLS.format(content=content) + " FROM messages m "
            "JOIN runs r ON r.id = m.run_pk WHERE m.run_pk = ANY(%s) ORDER BY m.run_pk, m.seq",
            (*params, list(run_pks)),
        ).fetchall()
        return _grouped(rows)

    @retrying
    def session_messages(self, session_pk: int, last_runs: int | None = None) -> list[Message]:
        """Every message of a session (or of its last runs), in order, with run status."""
        where = "r.session_pk = %s"
        params: list[Any] = [session_pk]
        if last_runs is not None:
            where += (
                " AND r.id IN (SELECT id FROM runs WHERE session_pk = %s ORDER BY id DESC LIMIT %s)"
            )
            params += [session_pk, last_runs]
        rows = self.execute(
            "SELECT " + _MESSAGE_COLS.format(content="m.content") + ", r.model, r.attachments "
            f"FROM messages m JOIN runs r ON r.id = m.run_pk WHERE {where} "
            "ORDER BY m.run_pk, m.seq",
            params,
        ).fetchall()
        return [message_record(r) for r in rows]

    @retrying
    def search_messages(self, query: str, user_id: str | None, limit: int = 20) -> list[SearchHit]:
        """Full-text search over message text (every word, stemmed), best match first."""
        words = search_text(query)
        if not words:
            return []
        where = "AND s.user_id = %(user)s" if user_id is not None else ""
        rows = self.execute(
            "WITH q AS (SELECT plainto_tsquery('english', %(words)s) AS q), "
            "hits AS (SELECT m.id, m.content, m.role, m.created_at, m.run_pk, "
            "ts_rank_cd(m.search, q.q) AS rank FROM q, messages m "
            "JOIN runs r ON r.id = m.run_pk JOIN sessions s ON s.id = r.session_pk "
            f"WHERE numnode(q.q) > 0 AND m.search @@ q.q {where} "
            "ORDER BY rank DESC, m.id DESC LIMIT %(limit)s) "
            "SELECT s.user_id, s.session_id, r.run_id, h.role, "
            f"ts_headline('english', left(coalesce(h.content, ''), {INDEXED_CHARS}), q.q, "
            "%(options)s), left(h.content, 1000), right(h.content, 1000), h.created_at, -h.rank "
            "FROM q, hits h JOIN runs r ON r.id = h.run_pk JOIN sessions s ON s.id = r.session_pk "
            "ORDER BY h.rank DESC, h.id DESC",
            {"words": words, "user": user_id, "limit": limit, "options": _HEADLINE},
        ).fetchall()
        hits = []
        for user, session, run_id, role, snippet, head, tail, created_at, rank in rows:
            snippet = _ellipsis(snippet, head or "", tail or "")
            hits.append(SearchHit(user, session, run_id, role, snippet, created_at, float(rank)))
        return hits

    # -- usage -------------------------------------------------------------------
    @retrying
    def session_usage(self, session_pk: int) -> Usage:
        """Tokens of a session: its runs plus its summary and memory calls."""
        row = self.execute(
            "SELECT coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0), count(*) "
            "FROM (SELECT input_tokens, output_tokens FROM runs WHERE session_pk = %s "
            "UNION ALL SELECT input_tokens, output_tokens FROM model_calls "
            "WHERE session_pk = %s) t",
            (session_pk, session_pk),
        ).fetchone()
        assert row is not None
        return Usage(int(row[0]), int(row[1]), int(row[2]))

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
        self.execute(
            "INSERT INTO model_calls (user_id, session_pk, run_pk, purpose, status, model, "
            "input_tokens, output_tokens, error, created_at, duration_ms) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
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


def _grouped(rows: list[tuple]) -> list[list[Message]]:
    grouped: dict[int, list[Message]] = {}
    for row in rows:
        message = message_record(row)
        grouped.setdefault(message.run_pk, []).append(message)
    return [grouped[pk] for pk in sorted(grouped)]


def _ellipsis(snippet: str, head: str, tail: str) -> str:
    """The snippet as SQLite's reads: an ellipsis where it starts or ends inside the
    message, the punctuation it ends on kept (``head`` and ``tail``: the message's
    first and last characters, the same text when it is short)."""
    plain = snippet.replace("\x01", "").replace("\x02", "")
    if not plain:
        return snippet
    at = head.find(plain)
    before = head[:at] if at >= 0 else "x"
    end = tail.rfind(plain)
    after = tail[end + len(plain) :] if end >= 0 else "x"
    start = "…" if any(c.isalnum() for c in before) else ""
    finish = "…" if any(c.isalnum() for c in after) else after.rstrip()
    return start + snippet + finish
