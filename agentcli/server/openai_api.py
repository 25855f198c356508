"""``/v1``: the OpenAI Chat Completions face, so any OpenAI client gains the user's memory.

The server holds the history: the request's last user message is the run's
message, its system (or developer) messages the run's instructions, and
earlier messages are ignored. The user comes from the ``user`` field (or
``X-Agentcli-User``), the session from ``X-Agentcli-Session`` (or
``metadata.session_id``); without one a new session is made and named in
the response's ``X-Agentcli-Session`` header.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from ..core.events import RunCompleted, RunStarted, TextDelta
from ..core.results import RunResult
from .deps import acting_user, check_id, new_session_id, runner
from .errors import ApiError, body, respond, run_failure
from .runner import Failed, Runner, RunRequest, RunStream
from .streaming import (
    SESSION_HEADER,
    SSE_HEADERS,
    begin,
    completion,
    dumps,
    next_event,
    sse,
)

router = APIRouter(prefix="/v1", tags=["OpenAI-compatible"])


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str
    content: str | list[dict[str, Any]] | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    messages: list[ChatMessage] = Field(min_length=1)
    model: str | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    n: int | None = Field(None, ge=1, le=1, description="One choice only.")
    user: str | None = Field(None, description="The user id (or header X-Agentcli-User).")
    metadata: dict[str, Any] | None = Field(None, description="`session_id` names the session.")
    tools: list[Any] | None = Field(None, description="Refused: the server's tools are its own.")
    functions: list[Any] | None = Field(None, description="Refused, as `tools`.")


def _invalid(message: str, code: str) -> ApiError:
    return ApiError(400, message, "invalid_request_error", code)


def _text(message: ChatMessage) -> str:
    if message.content is None or isinstance(message.content, str):
        return message.content or ""
    parts = []
    for part in message.content:
        if part.get("type") != "text" or not isinstance(part.get("text"), str):
            raise _invalid("only text content is supported", "unsupported_content")
        parts.append(part["text"])
    return "\n".join(parts)


def _run_request(
    payload: ChatCompletionRequest, user_id: str, session_id: str
) -> tuple[RunRequest, bool]:
    """The run a request asks for, and whether to report usage in the stream."""
    if payload.tools or payload.functions:
        raise _invalid(
            "client-side tools are not supported: the server runs its own memory tools; "
            "send the request without tools",
            "tools_not_supported",
        )
    message = next((m for m in reversed(payload.messages) if m.role == "user"), None)
    if message is None or not _text(message).strip():
        raise _invalid("the request has no user message to answer", "no_user_message")
    system = [_text(m) for m in payload.messages if m.role in ("system", "developer")]
    instructions = "\n\n".join(t for t in system if t.strip()) or None
    usage = bool(payload.stream_options and payload.stream_options.include_usage)
    run = RunRequest(
        user_id,
        session_id,
        _text(message),
        instructions,
        model=payload.model or None,
        temperature=payload.temperature,
        max_tokens=payload.max_completion_tokens or payload.max_tokens,
    )
    return run, usage


@router.post(
    "/chat/completions",
    summary="Chat Completions (OpenAI-compatible)",
    description="The last user message is the run's message; system messages are its "
    "instructions; earlier messages are ignored (the server holds the history). With "
    "`stream`, chunks as Server-Sent Events ending with `data: [DONE]`.",
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def chat_completions(
    payload: ChatCompletionRequest,
    request: Request,
    x_agentcli_user: str | None = Header(None),
    x_agentcli_session: str | None = Header(None),
) -> Response:
    user_id = acting_user(request, payload.user or x_agentcli_user, field="user", missing=400)
    given = x_agentcli_session or (payload.metadata or {}).get("session_id")
    if given is not None and not isinstance(given, str):
        raise _invalid("metadata.session_id must be a string", "invalid_session")
    session_id = check_id(given or new_session_id(), "session")
    run, usage = _run_request(payload, user_id, session_id)
    serving, stream, seen, refused = await begin(request, run, session_id)
    if refused is not None:
        return refused
    headers = {SESSION_HEADER: session_id}
    created = int(time.time())
    if payload.stream:
        chunks = _chunks(stream, serving, seen, session_id, created, usage, run.model)
        return StreamingResponse(
            chunks, media_type="text/event-stream", headers={**headers, **SSE_HEADERS}
        )
    end = await completion(stream, serving, seen)
    if isinstance(end, Failed):
        error, extra = run_failure(end.error, session_id)
        return respond(error, {**headers, **(extra or {})})
    return JSONResponse(_completion(end.result, created), headers=headers)


def _usage(result: RunResult) -> dict[str, int]:
    tokens_in, tokens_out = result.usage.input_tokens, result.usage.output_tokens
    return {
        "prompt_tokens": tokens_in,
        "completion_tokens": tokens_out,
        "total_tokens": tokens_in + tokens_out,
    }


def _completion(result: RunResult, created: int) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{result.run_id}",
        "object": "chat.completion",
        "created": created,
        "model": result.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": result.content},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": _usage(result),
    }


async def _chunks(
    stream: RunStream,
    serving: Runner,
    seen: list[Any],
    session_id: str,
    created: int,
    usage: bool,
    model: str | None,
) -> AsyncIterator[bytes]:
    head: dict[str, Any] = {
        "id": "chatcmpl-",
        "object": "chat.completion.chunk",
        "created": created,
        "model": model or serving.model.id,
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return sse(dumps({**head, "choices": [choice]}))

    running = True
    try:
        queued = list(seen)
        while True:
            event = queued.pop(0) if queued else await next_event(stream, serving)
            if isinstance(event, RunStarted):
                head["id"] = f"chatcmpl-{event.run_id}"
                yield chunk({"role": "assistant", "content": ""})
            elif isinstance(event, TextDelta):
                yield chunk({"content": event.text})
            elif isinstance(event, RunCompleted):
                running = False
                head["model"] = event.result.model or head["model"]
                yield chunk({}, "stop")
                if usage:
                    yield sse(dumps({**head, "choices": [], "usage": _usage(event.result)}))
                yield b"data: [DONE]\n\n"
                return
            elif isinstance(event, Failed):
                running = False
                error, _ = run_failure(event.error, session_id)
                yield sse(body(error.message, error.type, error.code))
                return
    finally:
        if running:  # the client went away mid-reply
            stream.cancel.cancel(*serving.cancel_reason())


@router.get("/models", summary="The configured models (OpenAI-compatible)")
async def models(request: Request) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [
            {"id": name, "object": "model", "created": 0, "owned_by": "agentcli"}
            for name in runner(request).models()
        ],
    }
