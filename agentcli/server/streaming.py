"""Reading a run's events on the event loop, and Server-Sent Events."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi.responses import Response

from ..core.events import RunCompleted, RunStarted, TextDelta
from .deps import runner as serving_runner
from .errors import respond, run_failure
from .runner import Failed, Runner, RunStream

SESSION_HEADER = "X-Agentcli-Session"
SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


def dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def sse(data: Any, event: str | None = None) -> bytes:
    """One Server-Sent Event (JSON never holds a raw newline, so one ``data:`` line)."""
    text = data if isinstance(data, str) else dumps(data)
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {text}\n\n".encode()


async def next_event(stream: RunStream, runner: Runner) -> Any:
    """The next event; a request that goes away (its task cancelled) stops its run."""
    try:
        return await stream.get()
    except asyncio.CancelledError:
        stream.cancel.cancel(*runner.cancel_reason())
        raise


async def opening(stream: RunStream, runner: Runner) -> list[Any]:
    """The events until one shows how the reply begins: text, a tool call, the end or a
    failure. Nothing is sent before, so a run that fails at once is an HTTP error."""
    seen = []
    while True:
        event = await next_event(stream, runner)
        seen.append(event)
        if not isinstance(event, RunStarted):
            return seen


async def completion(stream: RunStream, runner: Runner, seen: list[Any]) -> Any:
    """The run's end: its :class:`RunCompleted`, or :class:`Failed`."""
    for event in seen:
        if isinstance(event, RunCompleted | Failed):
            return event
    while True:
        event = await next_event(stream, runner)
        if isinstance(event, RunCompleted | Failed):
            return event


def failed_at_once(seen: list[Any]) -> Failed | None:
    """The failure of a run that ended before any of its reply could be sent."""
    last = seen[-1]
    return last if isinstance(last, Failed) else None


def streamed_text(seen: list[Any]) -> bool:
    return any(isinstance(event, TextDelta) for event in seen)


async def begin(
    request: Any, run: Any, session_id: str
) -> tuple[Runner, RunStream, list[Any], Response | None]:
    """Start a run and read up to how its reply begins. The last item is the error
    response of a run that failed before anything could be sent, else ``None``."""
    serving = serving_runner(request)
    stream = serving.start(run)
    seen = await opening(stream, serving)
    failure = failed_at_once(seen)
    if failure is None:
        return serving, stream, seen, None
    error, extra = run_failure(failure.error, session_id)
    return serving, stream, seen, respond(error, {SESSION_HEADER: session_id, **(extra or {})})
