"""Every error the server answers, in OpenAI's shape: ``{"error": {"message", "type", "code"}}``.

One shape for both faces of the API, so a client needs one error reader.
Messages never carry a token or an API key (the model client redacts its
own), nor a file path or a traceback.
"""

from __future__ import annotations

import sys
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ..core.errors import (
    AgentCliError,
    ConfigError,
    DuplicateMemoryError,
    ModelError,
    NotFoundError,
    RunCancelled,
    StoreError,
    UsageError,
)

INTERRUPTED = "the server stopped before the reply was complete"


class Interrupted(Exception):
    """The server stopped while a run was under way."""

    def __str__(self) -> str:
        return INTERRUPTED


class ApiError(Exception):
    """An error answered as is: HTTP status, message, type and code."""

    def __init__(self, status: int, message: str, type_: str, code: str):
        super().__init__(message)
        self.status, self.message, self.type, self.code = status, message, type_, code


def body(message: str, type_: str, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "code": code}}


def respond(error: ApiError, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body(error.message, error.type, error.code), error.status, headers)


def from_agentcli(exc: AgentCliError) -> ApiError:
    """The HTTP answer to an expected failure of the services."""
    if isinstance(exc, NotFoundError):
        return ApiError(404, str(exc), "not_found_error", "not_found")
    if isinstance(exc, DuplicateMemoryError):
        return ApiError(409, str(exc), "conflict_error", "duplicate_memory")
    if isinstance(exc, ModelError):
        return ApiError(502, str(exc), "model_error", "model_error")
    if isinstance(exc, RunCancelled):
        return ApiError(503, INTERRUPTED, "server_error", "interrupted")
    if isinstance(exc, StoreError):
        _note(f"database error: {exc}")
        return ApiError(500, "the database failed; see the server's log", "server_error", "store")
    if isinstance(exc, UsageError | ConfigError):
        return ApiError(400, str(exc), "invalid_request_error", "invalid_request")
    return ApiError(500, str(exc), "server_error", "error")


def model_failure(exc: ModelError, session_id: str) -> ApiError:
    """A failed model call: its cause, and where the person's message was kept."""
    return ApiError(
        502,
        f"{exc} (the message was kept in session {session_id})",
        "model_error",
        "model_error",
    )


def run_failure(exc: BaseException, session_id: str) -> tuple[ApiError, dict[str, str] | None]:
    """The answer to a run that failed before any of its reply was sent."""
    if isinstance(exc, ModelError):
        return model_failure(exc, session_id), NO_RETRY
    if isinstance(exc, RunCancelled | Interrupted):
        return ApiError(503, INTERRUPTED, "server_error", "interrupted"), None
    if isinstance(exc, AgentCliError):
        return from_agentcli(exc), None
    _note(f"unexpected {type(exc).__name__} in a run")
    return ApiError(500, "internal server error", "server_error", "internal"), None


# The model client has retried already; an SDK retrying a 502 would store the
# message again for each try (the OpenAI SDKs read this header).
NO_RETRY = {"x-should-retry": "false"}


def install(app: FastAPI) -> None:
    """Answer every error of ``app`` in the one shape."""

    async def api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return respond(exc)

    async def agentcli_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AgentCliError)
        error = from_agentcli(exc)
        return respond(error, NO_RETRY if error.status == 502 else None)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
        text = {404: "no such route", 405: "method not allowed on this route"}.get(
            exc.status_code, str(exc.detail)
        )
        return JSONResponse(
            body(text, kind, str(exc.status_code)), exc.status_code, getattr(exc, "headers", None)
        )

    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return respond(validation_error(exc, openai=request.url.path.startswith("/v1/")))

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        _note(f"unexpected {type(exc).__name__} on {request.method} {request.url.path}")
        return respond(ApiError(500, "internal server error", "server_error", "internal"))

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(AgentCliError, agentcli_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(Exception, unexpected)


def validation_error(exc: RequestValidationError, *, openai: bool) -> ApiError:
    """400 for a body that is not JSON (and for anything on /v1, as OpenAI answers); else 422."""
    errors = exc.errors()
    first = errors[0] if errors else {}
    if first.get("type") == "json_invalid":
        return ApiError(400, "the request body is not valid JSON", "invalid_request_error", "json")
    if tuple(first.get("loc", ())) == ("body",):
        what = "is required" if first.get("type") == "missing" else "must be a JSON object"
        return ApiError(400, f"the request body {what}", "invalid_request_error", "json")
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
    problem = str(first.get("msg", "invalid request"))
    message = f"{where}: {problem}" if where else problem
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more)"
    return ApiError(400 if openai else 422, message, "invalid_request_error", "invalid_field")


def _note(line: str) -> None:
    sys.stderr.write(f"agentcli: {line}\n")
    sys.stderr.flush()
