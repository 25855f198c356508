"""Plain records returned by the stores.

Immutable named tuples rather than frozen dataclasses: every command imports
these, and a frozen dataclass costs about a millisecond to create at import
(a tenth of ``agentcli memories list`` for the eight of them), a named tuple
a fifth of that.
"""

from __future__ import annotations

from typing import Any, NamedTuple


class Session(NamedTuple):
    pk: int
    user_id: str
    session_id: str
    name: str | None
    created_at: str
    updated_at: str
    runs: int = 0
    summary: str | None = None
    summary_through: int | None = None
    summary_updated_at: str | None = None
    # Instructions given with --system (kept for the session's later runs) and its role.
    instructions: str | None = None
    role: str | None = None


class Run(NamedTuple):
    pk: int
    run_id: str
    session_pk: int
    status: str
    model: str | None
    input_tokens: int
    output_tokens: int
    error: str | None
    started_at: str
    finished_at: str | None
    duration_ms: int | None
    # Files attached to the run's message: name, size, kind (see core.attachments).
    attachments: list[dict[str, Any]] | None = None


class Message(NamedTuple):
    run_pk: int
    run_id: str
    seq: int
    role: str
    content: str | None
    created_at: str
    status: str = "completed"
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None
    # Of the message's run, where a store reads them with the message (sessions show).
    model: str | None = None
    attachments: list[dict[str, Any]] | None = None

    def to_chat(self) -> dict[str, Any]:
        """This message as a Chat Completions message."""
        # Content is always a string: strict servers refuse null, even beside tool calls.
        out: dict[str, Any] = {"role": self.role, "content": self.content or ""}
        if self.tool_calls:
            out["tool_calls"] = self.tool_calls
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        return out


class SummaryState(NamedTuple):
    """A session's stored rolling summary and the last run it covers (``None``: no summary)."""

    session_pk: int
    summary: str | None
    through_pk: int | None
    through_run_id: str | None
    updated_at: str | None


class SearchHit(NamedTuple):
    user_id: str
    session_id: str
    run_id: str
    role: str
    snippet: str
    created_at: str
    rank: float


class Usage(NamedTuple):
    """Token counts; ``calls`` is the number of model calls they came from.

    ``estimated``: some of the counts were estimated locally because the server
    reported none (see :func:`agentcli.core.text.estimate_tokens`).
    """

    input_tokens: int = 0
    output_tokens: int = 0
    calls: int = 0
    estimated: bool = False

    def __add__(self, other: Usage) -> Usage:  # type: ignore[override]  # sums, not concatenates
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.calls + other.calls,
            self.estimated or other.estimated,
        )


class Memory(NamedTuple):
    id: int
    user_id: str
    memory: str
    topics: list[str]
    created_at: str
    updated_at: str
    created_session_id: str | None = None
    created_run_id: str | None = None
    updated_session_id: str | None = None
    updated_run_id: str | None = None


class MemoryEvent(NamedTuple):
    id: int
    memory_id: int
    user_id: str
    action: str
    before: str | None
    after: str | None
    actor: str
    run_id: str | None
    created_at: str


# -- moving a whole database (``agentcli db copy``) and describing one (``db info``) --
class ModelCall(NamedTuple):
    """An auxiliary model call (memory manager, summary fold) and its tokens."""

    user_id: str
    run_id: str | None
    purpose: str
    status: str
    model: str | None
    input_tokens: int
    output_tokens: int
    error: str | None
    created_at: str
    duration_ms: int | None


class RunArchive(NamedTuple):
    """One run as stored: the run (its ``owner`` dropped), its messages in order,
    and the settings it recorded (instructions, role, options)."""

    run: Run
    messages: list[Message]
    settings: dict[str, Any] | None = None


class SessionArchive(NamedTuple):
    """A session with everything that belongs to it, keyed by its ids, not its pks.

    ``summary_through_run_id`` names the last run the summary covers."""

    session: Session
    summary_through_run_id: str | None
    runs: list[RunArchive]
    model_calls: list[ModelCall]


class SessionCopied(NamedTuple):
    """What writing a :class:`SessionArchive` added (all zero: it was there already)."""

    session: int = 0
    runs: int = 0
    messages: int = 0
    model_calls: int = 0


class MemoryHistory(NamedTuple):
    """One memory's event history, and the memory itself unless it was deleted."""

    memory: Memory | None
    events: list[MemoryEvent]


class StoreInfo(NamedTuple):
    """What ``agentcli db info`` shows: the backend, where it is, its schema, its rows."""

    backend: str
    location: str
    schema_version: int
    counts: dict[str, int]
