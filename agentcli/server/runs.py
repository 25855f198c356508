"""``POST /runs``: one run, answered as the CLI's ``chat --json`` or as named events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from ..core.errors import RunCancelled
from ..core.events import FollowUpDone, RunCompleted, RunStarted, event_name
from ..services.serialize import run_json
from .deps import acting_user, check_id, new_session_id
from .errors import ApiError, Interrupted, body, respond, run_failure
from .runner import Abandoned, Failed, Runner, RunRequest, RunStream
from .streaming import (
    SESSION_HEADER,
    SSE_HEADERS,
    begin,
    completion,
    next_event,
    sse,
)

router = APIRouter(tags=["runs"])


class RunBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: str | None = Field(None, description="Required unless the server serves one user.")
    session_id: str | None = Field(None, description="Default: a new session.")
    message: str
    instructions: str | None = Field(None, description="System instructions for this run.")
    stream: bool = Field(False, description="Answer Server-Sent Events.")


RUN_EVENTS = (
    "run_started, content, tool_call, tool_result, run_completed (the run as without "
    "stream), run_error or run_cancelled; then, from the work after the reply, "
    "memory_changed, summary_updated, warning and follow_up_done."
)


@router.post(
    "/runs",
    summary="Run one turn",
    description="The run as JSON, or with `stream` these Server-Sent Events: " + RUN_EVENTS,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def create_run(payload: RunBody, request: Request) -> Response:
    user_id = acting_user(request, payload.user_id)
    session_id = check_id(payload.session_id or new_session_id(), "session_id")
    if not payload.message.strip():
        return respond(ApiError(400, "the message is empty", "invalid_request_error", "empty"))
    run = RunRequest(user_id, session_id, payload.message, payload.instructions or None)
    serving, stream, seen, refused = await begin(request, run, session_id)
    if refused is not None:
        return refused
    headers = {SESSION_HEADER: session_id}
    if payload.stream:
        return StreamingResponse(
            _events(stream, serving, seen, session_id),
            media_type="text/event-stream",
            headers={**headers, **SSE_HEADERS},
        )
    end = await completion(stream, serving, seen)
    if isinstance(end, Failed):
        error, extra = run_failure(end.error, session_id)
        return respond(error, {**headers, **(extra or {})})
    return JSONResponse(run_json(end.result), headers=headers)


async def _events(
    stream: RunStream, serving: Runner, seen: list[Any], session_id: str
) -> AsyncIterator[bytes]:
    run_id: str | None = None
    running = True
    try:
        queued = list(seen)
        while True:
            event = queued.pop(0) if queued else await next_event(stream, serving)
            if isinstance(event, RunStarted):
                run_id = event.run_id
            if isinstance(event, Abandoned):
                return
            if isinstance(event, Failed):
                running = False
                yield _failure(event.error, run_id, session_id)
                return
            if isinstance(event, RunCompleted):
                running = False
                yield sse(run_json(event.result), "run_completed")
                continue
            yield sse(event._asdict(), event_name(event))
            if isinstance(event, FollowUpDone):
                return
    finally:
        if running:  # the client went away mid-reply
            stream.cancel.cancel(*serving.cancel_reason())


def _failure(exc: BaseException, run_id: str | None, session_id: str) -> bytes:
    ids = {"run_id": run_id, "session_id": session_id}
    if isinstance(exc, RunCancelled | Interrupted):
        return sse({**ids, "status": "interrupted", "message": str(Interrupted())}, "run_cancelled")
    error, _ = run_failure(exc, session_id)
    return sse({**ids, **body(error.message, error.type, error.code)}, "run_error")
