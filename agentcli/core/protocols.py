"""What the services need from a model and from a store, as ``typing.Protocol``s.

An adapter implements these without inheriting from them: ``OpenAIChat`` is a
:class:`ChatModel`, ``SqliteDb`` a :class:`Store`. Every method is scoped by
``user_id`` where a user's data is concerned: another user's session or memory
is "not found", never shown. Driver errors never cross this line; an adapter
raises :class:`~agentcli.core.errors.StoreError` (or a subclass) instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from .records import (
        Memory,
        MemoryEvent,
        MemoryHistory,
        Message,
        Run,
        SearchHit,
        Session,
        SessionArchive,
        SessionCopied,
        StoreInfo,
        SummaryState,
        Usage,
    )
    from .results import ModelResponse

# Why the services call a model: a person's run, the automatic memory manager,
# or a summary fold. Adapters may use it (e.g. caps, logging); scripted test
# models answer by it, never by the prompt's text.
Purpose = Literal["chat", "memory", "summary"]


class ChatModel(Protocol):
    """A chat model behind the Chat Completions message and tool format."""

    id: str

    def check_configured(self) -> None:
        """Raise :class:`ConfigError` when the model cannot be called at all."""

    def complete(
        self,
        messages: list[dict[str, Any]],
        *,
        tools: list[dict[str, Any]] | None = None,
        on_text: Callable[[str], None] | None = None,
        stream: bool | None = None,
        purpose: Purpose = "chat",
        max_tokens: int | None = None,
    ) -> ModelResponse:
        """One call: the answer's text (streamed to ``on_text``), tool calls and usage.

        ``max_tokens`` caps the reply (a reply cut there has the finish reason
        ``length``). Raises :class:`ModelError` (:class:`PartialResponseError`
        after text arrived, :class:`ToolsRejectedError` when tools were refused,
        :class:`ContextLengthError` for a request larger than the context window).

        Optional, used when present: ``context_window() -> int | None`` (the
        window the server reports), ``notes`` (a :class:`~agentcli.core.notes.Notes`
        of what was learned about the endpoint) and ``vision`` (true when the
        model takes images as ``image_url`` content parts)."""
        ...


class SessionStore(Protocol):
    """Sessions, runs and their messages."""

    def get_session(self, user_id: str, session_id: str) -> Session | None: ...

    def require_session(self, user_id: str, session_id: str) -> Session: ...

    def ensure_session(self, user_id: str, session_id: str) -> Session:
        """The session, created if new."""
        ...

    def latest_session(self, user_id: str) -> Session | None:
        """The user's most recently used session, passing over those whose every run
        failed (``chat -c`` continues it)."""
        ...

    def list_sessions(self, user_id: str | None, limit: int | None = None) -> list[Session]: ...

    def count_sessions(self, user_id: str | None) -> int:
        """How many sessions the user (``None``: every user) has."""
        ...

    def rename_session(self, user_id: str, session_id: str, name: str) -> Session: ...

    def delete_session(self, user_id: str, session_id: str) -> Session: ...

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
        """The session (created if new) and a new running run holding the user's message
        (and what is known of the files attached to it: name, size, kind).
        ``instructions`` and ``role``, when not ``None``, become the session's (``""``
        clears them)."""
        ...

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
        """Store the rest of a run and its final status, all or nothing; ``settings``
        record what the run was sent (instructions, role, generation options)."""
        ...

    def run_settings(self, session_pk: int) -> dict[str, dict[str, Any]]:
        """The settings each run of a session recorded, by run id."""
        ...

    def mark_interrupted(self, is_alive: Callable[[str], bool]) -> int: ...

    def context_runs(
        self, session_pk: int, *, limit: int | None, after_run_pk: int | None = None
    ) -> list[list[Message]]: ...

    def messages_by_run(
        self, run_pks: list[int], *, max_chars: int | None = None
    ) -> list[list[Message]]: ...

    def session_messages(self, session_pk: int, last_runs: int | None = None) -> list[Message]: ...

    def search_messages(
        self, query: str, user_id: str | None, limit: int = 20
    ) -> list[SearchHit]: ...

    def session_usage(self, session_pk: int) -> Usage: ...

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
    ) -> None: ...


class SummaryStore(Protocol):
    """Rolling summaries, moved forward by compare-and-set."""

    def summary_state(self, session_pk: int) -> SummaryState: ...

    def runs_to_fold(
        self, session_pk: int, *, after_pk: int | None, keep: int, limit: int
    ) -> list[int]: ...

    def set_summary(
        self, session_pk: int, summary: str, *, through_pk: int, expected_through: int | None
    ) -> bool: ...

    def count_completed_runs(self, session_pk: int, *, through_pk: int | None = None) -> int: ...


class MemoryStore(Protocol):
    """User memories and their change history."""

    def get_memory(self, user_id: str, memory_id: int) -> Memory: ...

    def list_memories(self, user_id: str, *, topic: str | None = None) -> list[Memory]: ...

    def count_memories(self, user_id: str) -> int: ...

    def recent_memories(self, user_id: str, max_chars: int) -> tuple[list[Memory], bool]:
        """The newest memories within ``max_chars`` of text, newest first, and whether
        that is all of them."""
        ...

    def relevant_memories(self, user_id: str, text: str, limit: int) -> list[tuple[Memory, float]]:
        """This user's memories relevant to ``text``, best first, scored in (0, 1].

        The backend's own full-text search and stemming; the ranking draws on
        this user's memories alone."""
        ...

    def memory_events(self, user_id: str, memory_id: int) -> list[MemoryEvent]: ...

    def add_memory(
        self,
        user_id: str,
        memory: str,
        topics: Iterable[str] = (),
        *,
        actor: str,
        session_id: str | None = None,
        run_id: str | None = None,
    ) -> tuple[Memory, bool]: ...

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
    ) -> Memory: ...

    def delete_memory(
        self, user_id: str, memory_id: int, *, actor: str, run_id: str | None = None
    ) -> Memory: ...

    def clear_memories(self, user_id: str, *, actor: str) -> int: ...

    def import_memories(
        self, user_id: str, rows: Iterable[dict[str, Any]], *, actor: str
    ) -> int: ...


class ArchiveStore(Protocol):
    """A whole database read and written by ids (``agentcli db copy``, ``db info``).

    Writes are idempotent: what the store holds already (a run id, a memory
    history) is skipped, and each session is written in one transaction.
    """

    def info(self) -> StoreInfo:
        """The backend, where it is, its schema version and the rows of each table."""
        ...

    def user_ids(self) -> list[str]:
        """Every user with a session, a memory or a memory event."""
        ...

    def session_pks(self) -> list[int]:
        """Every session's pk, oldest first."""
        ...

    def read_session(self, session_pk: int) -> SessionArchive: ...

    def write_session(self, archive: SessionArchive) -> SessionCopied:
        """Add the session (if new) and the runs it lacks, with their messages and
        model calls, in one transaction; the summary only where there is none."""
        ...

    def read_memories(self, user_id: str) -> list[MemoryHistory]:
        """Every memory history of a user (deleted memories' too), oldest first."""
        ...

    def write_memories(self, user_id: str, histories: list[MemoryHistory]) -> tuple[int, int]:
        """Add the histories the store lacks (by their first event), under new ids, in
        one transaction; returns how many memories and events were added."""
        ...


class Store(SessionStore, SummaryStore, MemoryStore, ArchiveStore, Protocol):
    """Everything the services keep: one database.

    One store may be used by several threads at once (a server's workers, the
    agent's follow-up work): each thread works through its own connection.
    """

    def reading(self) -> AbstractContextManager[object]:
        """Several reads of the calling thread that see one moment of the database."""
        ...

    def close(self) -> None:
        """Release every connection; the store cannot be used after."""
        ...
