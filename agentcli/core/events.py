"""Run events: what a run and the work that follows it report as they happen.

The REPL renders them, a server streams them, the one-shot CLI prints the
notices. A sink is any callable taking one event; follow-up work (memory
manager, summary folds) may call it from a worker thread, so a sink that
touches a terminal or an event loop hands the event over (e.g. a queue).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from .results import RunResult


class RunStarted(NamedTuple):
    run_id: str
    session_id: str
    user_id: str


class TextDelta(NamedTuple):
    """A piece of the reply's text as it streams."""

    text: str


class ToolCallEvent(NamedTuple):
    name: str
    arguments: str


class ToolResultEvent(NamedTuple):
    name: str
    result: str


class RunCompleted(NamedTuple):
    result: RunResult


class MemoryChanged(NamedTuple):
    """A memory was added, updated or deleted; ``notice`` is one line for a person."""

    notice: str
    actor: str


class SummaryUpdated(NamedTuple):
    session_id: str
    covers_through_run: str | None


class Warning(NamedTuple):  # noqa: A001 - the event's name, not the builtin category
    """Something the person should know that did not fail the run."""

    text: str


class FollowUpDone(NamedTuple):
    """The work after a run (memory manager, folds) finished, ok or with warnings."""

    run_id: str


RunEvent = (
    RunStarted
    | TextDelta
    | ToolCallEvent
    | ToolResultEvent
    | RunCompleted
    | MemoryChanged
    | SummaryUpdated
    | Warning
    | FollowUpDone
)
EventSink = Callable[[Any], None]


def event_name(event: Any) -> str:
    """The snake_case name a server streams an event under, e.g. ``memory_changed``."""
    names = {
        RunStarted: "run_started",
        TextDelta: "content",
        ToolCallEvent: "tool_call",
        ToolResultEvent: "tool_result",
        RunCompleted: "run_completed",
        MemoryChanged: "memory_changed",
        SummaryUpdated: "summary_updated",
        Warning: "warning",
        FollowUpDone: "follow_up_done",
    }
    return names[type(event)]
