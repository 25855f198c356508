"""What the routes share: the runner, the user a request acts for, ids."""

from __future__ import annotations

import uuid

from fastapi import Request

from .errors import ApiError
from .runner import Runner

# Longest user or session id the server accepts (the CLI sets none; a label is short).
MAX_ID_CHARS = 512


def runner(request: Request) -> Runner:
    found: Runner = request.app.state.runner
    return found


def acting_user(
    request: Request, given: str | None, *, field: str = "user_id", missing: int = 422
) -> str:
    """The user a request acts for; a server bound to one user refuses any other (403).

    User ids are labels chosen by the trusted caller: the server checks only
    that they are given, short, and (when bound) the one user it serves."""
    bound = runner(request).config.user
    if given is not None and given.strip() == "":
        given = None
    if bound is not None:
        if given is not None and given != bound:
            raise ApiError(
                403,
                "this server serves one user only; requests naming another user are refused",
                "permission_error",
                "user_not_allowed",
            )
        given = bound
    if given is None:
        raise ApiError(missing, f"{field} is required", "invalid_request_error", "missing_user")
    check_id(given, field)
    request.state.user_id = given
    return given


def check_id(value: str, field: str) -> str:
    if not value.strip():
        raise ApiError(422, f"{field} must not be empty", "invalid_request_error", "invalid_id")
    if len(value) > MAX_ID_CHARS:
        raise ApiError(
            422,
            f"{field} is longer than {MAX_ID_CHARS} characters",
            "invalid_request_error",
            "invalid_id",
        )
    return value


def new_session_id() -> str:
    return uuid.uuid4().hex[:12]
