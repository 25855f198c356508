"""What a model call answers and what a run produces (dataclasses: not on the path of
the data commands, which import only :mod:`agentcli.core.records`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .records import Run, Session, Usage


@dataclass
class ToolCall:
    """One tool call the model asked for."""

    id: str
    name: str
    arguments: str

    def to_chat(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }


@dataclass
class ModelResponse:
    """One model call's answer: text, tool calls, usage."""

    content: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None
    model: str | None = None
    # Things the client learned about the server that the person should hear
    # once (e.g. "this server cannot stream tool calls"); the agent warns.
    notices: list[str] = field(default_factory=list)

    def to_message(self) -> dict[str, Any]:
        """The assistant message to store and to send back in later requests."""
        # ``content`` is "" rather than null beside tool calls: OpenAI takes
        # either, strict servers (llama-cpp-python) only a string.
        message: dict[str, Any] = {"role": "assistant", "content": self.content or ""}
        if self.tool_calls:
            message["tool_calls"] = [c.to_chat() for c in self.tool_calls]
        return message


@dataclass
class RunResult:
    """What one run produced."""

    content: str
    run_id: str
    session_id: str
    user_id: str
    usage: Usage
    model: str | None
    status: str = "completed"
    duration_ms: int = 0
    messages: list[dict[str, Any]] = field(default_factory=list)
    memory_changes: list[str] = field(default_factory=list)
    # "stop", or "length" when the reply was cut at ``max_tokens``.
    finish_reason: str | None = None
    # Memories the automatic manager proposed but that the user never said.
    memories_rejected: int = 0


@dataclass
class RunContext:
    """Handed to work that follows a completed run (memory manager, summary fold)."""

    user_id: str
    session: Session
    run: Run
    user_message: str
    result: RunResult
    # Where the follow-up work reports its events (memory changes, summary updates).
    emit: Callable[[Any], None] = field(default=lambda event: None)


@dataclass(frozen=True)
class SessionSummary:
    """A session's stored summary: the text, the last run it covers and how many runs."""

    user_id: str
    session_id: str
    summary: str | None
    covers_through_run: str | None
    runs: int
    updated_at: str | None = None
