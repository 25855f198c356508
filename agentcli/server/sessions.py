"""``/sessions``: the CLI's ``sessions`` commands and ``summarize`` over HTTP.

Every route acts for one user (``user_id``); another user's session is 404,
exactly like a missing one. The JSON is what the CLI's ``--json`` prints.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from ..core.ranges import LAST_RUNS
from ..services.liveness import owner_alive
from ..services.serialize import search_hit_json, session_document, session_json, summary_json
from ..services.summary import stored_summary
from .deps import acting_user, runner
from .errors import ApiError

router = APIRouter(prefix="/sessions", tags=["sessions"])

UserQuery = Query(None, description="Required unless the server serves one user.")


class Rename(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=1000)


@router.get("", summary="The user's sessions, most recently used first")
def list_sessions(
    request: Request,
    user_id: str | None = UserQuery,
    limit: int = Query(20, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=100_000),
) -> list[dict[str, Any]]:
    user = acting_user(request, user_id)
    found = runner(request).db.list_sessions(user, limit=offset + limit)
    return [session_json(s) for s in found[offset:]]


@router.get("/search", summary="Full-text search over the user's messages, best first")
def search_sessions(
    request: Request,
    q: str = Query(min_length=1, max_length=1000, description="Every word is required."),
    user_id: str | None = UserQuery,
    limit: int = Query(20, ge=1, le=1000),
) -> list[dict[str, Any]]:
    user = acting_user(request, user_id)
    if not q.strip():
        raise ApiError(422, "q must not be blank", "invalid_request_error", "invalid_field")
    hits = runner(request).db.search_messages(q, user, limit=limit)
    return [search_hit_json(h) for h in hits]


@router.get("/{session_id}", summary="A session with its messages and summary")
def get_session(
    request: Request,
    session_id: str,
    user_id: str | None = UserQuery,
    last: int | None = Query(
        None, ge=LAST_RUNS.low, le=LAST_RUNS.high, description="Only the last N runs."
    ),
) -> dict[str, Any]:
    user = acting_user(request, user_id)
    db = runner(request).db
    db.mark_interrupted(owner_alive)
    found = db.require_session(user, session_id)
    return session_document(
        found, db.session_messages(found.pk, last_runs=last), run_settings=db.run_settings(found.pk)
    )


@router.patch("/{session_id}", summary="Rename a session")
def rename_session(
    request: Request, session_id: str, payload: Rename, user_id: str | None = UserQuery
) -> dict[str, Any]:
    user = acting_user(request, user_id)
    if not payload.name.strip():
        raise ApiError(422, "name must not be blank", "invalid_request_error", "invalid_field")
    return session_json(runner(request).db.rename_session(user, session_id, payload.name))


@router.delete("/{session_id}", summary="Delete a session with its runs (memories are kept)")
def delete_session(
    request: Request, session_id: str, user_id: str | None = UserQuery
) -> dict[str, Any]:
    user = acting_user(request, user_id)
    return session_json(runner(request).db.delete_session(user, session_id))


@router.post(
    "/{session_id}/summarize",
    summary="Fold every completed run of a session into its summary",
)
async def summarize_session(
    request: Request, session_id: str, user_id: str | None = UserQuery
) -> dict[str, Any]:
    user = acting_user(request, user_id)
    serving = runner(request)

    def fold() -> dict[str, Any]:
        stored_summary(serving.db, user, session_id)  # no such session: 404 before any model
        agent = serving.agent()
        return summary_json(agent.summarize_session(user_id=user, session_id=session_id))

    return await serving.call(fold)
