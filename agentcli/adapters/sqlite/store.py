"""``SqliteDb``: the core's ``Store`` on SQLite.

Each method takes this thread's connection the way it needs it (as is, as one
read, or as one write transaction) and calls the query functions of
``sessions``, ``memories`` and ``summaries``; those never call each other's
module and never begin or end a transaction. Driver errors become
``StoreError`` in :class:`~.db.Database`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ...core.records import (
    Memory,
    MemoryEvent,
    Message,
    Run,
    SearchHit,
    Session,
    SummaryState,
    Usage,
)
from . import memories, sessions, summaries
from .archive import ArchiveQueries
from .db import Database


class SqliteDb(ArchiveQueries, Database):
    """The agentcli database: ``SqliteDb("chat.db")`` or ``SqliteDb(":memory:")``.

    ``SqliteDb(path, tracer=print)`` or ``with db.tracer(fn):`` shows every
    statement with its parameters.
    """

    # -- sessions ------------------------------------------------------------------
    def get_session(self, user_id: str, session_id: str) -> Session | None:
        with self.connected() as conn:
            return sessions.get_session(conn, user_id, session_id)

    def require_session(self, user_id: str, session_id: str) -> Session:
        with self.connected() as conn:
            return sessions.require_session(conn, user_id, session_id)

    def ensure_session(self, user_id: str, session_id: str) -> Session:
        """The session, created if new."""
        with self.transaction() as conn:
            return sessions.ensure_session(conn, user_id, session_id)

    def latest_session(self, user_id: str) -> Session | None:
        with self.connected() as conn:
            return sessions.latest_session(conn, user_id)

    def list_sessions(self, user_id: str | None, limit: int | None = None) -> list[Session]:
        with self.connected() as conn:
            return sessions.list_sessions(conn, user_id, limit)

    def count_sessions(self, user_id: str | None) -> int:
        with self.connected() as conn:
            return sessions.count_sessions(conn, user_id)

    def rename_session(self, user_id: str, session_id: str, name: str) -> Session:
        with self.transaction() as conn:
            return sessions.rename_session(conn, user_id, session_id, name)

    def delete_session(self, user_id: str, session_id: str) -> Session:
        """Delete a session with its runs and messages; memories are kept."""
        with self.transaction() as conn:
            return sessions.delete_session(conn, user_id, session_id)

    # -- runs ------------------------------------------------------------------------
    def start_run(self, session: Session, user_message: str, model: str, owner: str) -> Run:
        """Store a new running run with its user message, in one transaction."""
        with self.transaction() as conn:
            return sessions.start_run(conn, session, user_message, model, owner)

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
        in one transaction: what every run starts with. ``instructions`` and ``role``,
        when given, become the session's (``""`` clears them)."""
        with self.transaction() as conn:
            session = sessions.ensure_session(conn, user_id, session_id)
            session = sessions.set_session_settings(
                conn, session, instructions=instructions, role=role
            )
            return session, sessions.start_run(
                conn, session, user_message, model, owner, attachments=attachments
            )

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
        """Store the rest of a run and its final status, in one transaction;
        ``settings`` are what the run was sent (instructions, role, options)."""
        with self.transaction() as conn:
            return sessions.finish_run(
                conn,
                run_pk,
                status=status,
                messages=messages,
                model=model,
                usage=usage or Usage(),
                error=error,
                duration_ms=duration_ms,
                settings=settings,
            )

    def run_settings(self, session_pk: int) -> dict[str, dict[str, Any]]:
        """What each run of a session was sent, by run id."""
        with self.connected() as conn:
            return sessions.run_settings(conn, session_pk)

    def get_run(self, run_pk: int) -> Run:
        with self.connected() as conn:
            return sessions.get_run(conn, run_pk)

    def mark_interrupted(self, is_alive: Callable[[str], bool]) -> int:
        """Mark runs left ``running`` by a process that is gone; returns how many."""
        with self.connected() as conn:
            running = sessions.running_runs(conn)
        dead = [pk for pk, owner in running if not is_alive(owner)]
        if dead:
            with self.transaction() as conn:
                sessions.mark_interrupted(conn, dead)
        return len(dead)

    # -- messages --------------------------------------------------------------------
    def context_runs(
        self, session_pk: int, *, limit: int | None, after_run_pk: int | None = None
    ) -> list[list[Message]]:
        """Messages of the last ``limit`` completed runs after ``after_run_pk``, oldest first."""
        with self.reading() as conn:
            return sessions.context_runs(conn, session_pk, limit=limit, after_run_pk=after_run_pk)

    def messages_by_run(
        self, run_pks: list[int], *, max_chars: int | None = None
    ) -> list[list[Message]]:
        """The messages of these runs grouped by run, oldest first (each cut to
        ``max_chars + 1`` characters when given)."""
        with self.connected() as conn:
            return sessions.messages_by_run(conn, run_pks, max_chars=max_chars)

    def session_messages(self, session_pk: int, last_runs: int | None = None) -> list[Message]:
        with self.connected() as conn:
            return sessions.session_messages(conn, session_pk, last_runs)

    def search_messages(self, query: str, user_id: str | None, limit: int = 20) -> list[SearchHit]:
        """Full-text search over message text, best match first."""
        with self.connected() as conn:
            return sessions.search_messages(conn, query, user_id, limit)

    def session_usage(self, session_pk: int) -> Usage:
        with self.reading() as conn:
            return sessions.session_usage(conn, session_pk)

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
            sessions.record_model_call(
                conn,
                user_id=user_id,
                session_pk=session_pk,
                run_pk=run_pk,
                purpose=purpose,
                status=status,
                model=model,
                usage=usage,
                error=error,
                duration_ms=duration_ms,
            )

    # -- summaries -----------------------------------------------------------------
    def summary_state(self, session_pk: int) -> SummaryState:
        with self.connected() as conn:
            return summaries.summary_state(conn, session_pk)

    def runs_to_fold(
        self, session_pk: int, *, after_pk: int | None, keep: int, limit: int
    ) -> list[int]:
        with self.reading() as conn:
            return summaries.runs_to_fold(
                conn, session_pk, after_pk=after_pk, keep=keep, limit=limit
            )

    def set_summary(
        self, session_pk: int, summary: str, *, through_pk: int, expected_through: int | None
    ) -> bool:
        with self.transaction() as conn:
            return summaries.set_summary(
                conn, session_pk, summary, through_pk=through_pk, expected_through=expected_through
            )

    def count_completed_runs(self, session_pk: int, *, through_pk: int | None = None) -> int:
        with self.connected() as conn:
            return summaries.count_completed_runs(conn, session_pk, through_pk=through_pk)

    # -- memories ------------------------------------------------------------------
    def get_memory(self, user_id: str, memory_id: int) -> Memory:
        with self.connected() as conn:
            return memories.get_memory(conn, user_id, memory_id)

    def list_memories(self, user_id: str, *, topic: str | None = None) -> list[Memory]:
        with self.connected() as conn:
            return memories.list_memories(conn, user_id, topic=topic)

    def count_memories(self, user_id: str) -> int:
        with self.connected() as conn:
            return memories.count_memories(conn, user_id)

    def recent_memories(self, user_id: str, max_chars: int) -> tuple[list[Memory], bool]:
        with self.reading() as conn:
            return memories.recent_memories(conn, user_id, max_chars)

    def relevant_memories(self, user_id: str, text: str, limit: int) -> list[tuple[Memory, float]]:
        with self.reading() as conn:
            return memories.relevant_memories(conn, user_id, text, limit)

    def memory_events(self, user_id: str, memory_id: int) -> list[MemoryEvent]:
        with self.connected() as conn:
            return memories.memory_events(conn, user_id, memory_id)

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
        with self.transaction() as conn:
            return memories.add_memory(
                conn, user_id, memory, topics, actor=actor, session_id=session_id, run_id=run_id
            )

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
        with self.transaction() as conn:
            return memories.update_memory(
                conn,
                user_id,
                memory_id,
                memory=memory,
                topics=topics,
                actor=actor,
                session_id=session_id,
                run_id=run_id,
            )

    def delete_memory(
        self, user_id: str, memory_id: int, *, actor: str, run_id: str | None = None
    ) -> Memory:
        with self.transaction() as conn:
            return memories.delete_memory(conn, user_id, memory_id, actor=actor, run_id=run_id)

    def clear_memories(self, user_id: str, *, actor: str) -> int:
        with self.transaction() as conn:
            return memories.clear_memories(conn, user_id, actor=actor)

    def import_memories(self, user_id: str, rows: Iterable[dict[str, Any]], *, actor: str) -> int:
        with self.transaction() as conn:
            return memories.import_memories(conn, user_id, rows, actor=actor)
