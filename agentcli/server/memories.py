"""``/memories``: the CLI's ``memories`` commands over HTTP.

Edits go through the same services as ``agentcli memories`` (cleaning,
duplicates, history with the actor ``user``). Another user's memory id is
404, exactly like a missing one.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from ..services.memory_edit import clean_memory, clean_topics, forget, remember
from ..services.recall import search_memories
from ..services.serialize import memory_event_json, memory_json
from .deps import acting_user, runner
from .errors import ApiError

router = APIRouter(prefix="/memories", tags=["memories"])

UserQuery = Query(None, description="Required unless the server serves one user.")


class NewMemory(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: str | None = Field(None, description="Required unless the server serves one user.")
    memory: str
    topics: list[str] = Field(default_factory=list)


class MemoryChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    memory: str | None = None
    topics: list[str] | None = Field(None, description="Replaces the memory's topics.")


@router.get("", summary="The user's memories: all (oldest first), or those matching q")
def list_memories(
    request: Request,
    user_id: str | None = UserQuery,
    q: str | None = Query(None, max_length=1000, description="Words to look for, best first."),
    limit: int | None = Query(None, ge=1, le=100_000),
) -> list[dict[str, Any]]:
    user = acting_user(request, user_id)
    db = runner(request).db
    if q is not None and q.strip():
        found = search_memories(db, user, q, limit or 20)
    else:
        found = db.list_memories(user)[:limit]
    return [memory_json(m) for m in found]


@router.post(
    "",
    summary="Add a memory (an identical one is not stored twice: 200 with it)",
    status_code=201,
)
def add_memory(request: Request, payload: NewMemory) -> JSONResponse:
    user = acting_user(request, payload.user_id)
    memory, added = remember(runner(request).db, user, payload.memory, payload.topics)
    return JSONResponse(memory_json(memory), status_code=201 if added else 200)


@router.patch("/{memory_id}", summary="Rewrite a memory and/or replace its topics")
def edit_memory(
    request: Request, memory_id: int, payload: MemoryChange, user_id: str | None = UserQuery
) -> dict[str, Any]:
    user = acting_user(request, user_id)
    if payload.memory is None and payload.topics is None:
        raise ApiError(422, "give memory, topics or both", "invalid_request_error", "invalid_field")
    text = clean_memory(payload.memory) if payload.memory is not None else None
    tags = clean_topics(payload.topics) if payload.topics is not None else None
    changed = runner(request).db.update_memory(
        user, memory_id, memory=text, topics=tags, actor="user"
    )
    return memory_json(changed)


@router.delete("/{memory_id}", summary="Delete a memory")
def delete_memory(
    request: Request, memory_id: int, user_id: str | None = UserQuery
) -> dict[str, Any]:
    user = acting_user(request, user_id)
    return memory_json(forget(runner(request).db, user, memory_id))


@router.get("/{memory_id}/history", summary="How a memory was added, changed and deleted")
def memory_history(
    request: Request, memory_id: int, user_id: str | None = UserQuery
) -> list[dict[str, Any]]:
    user = acting_user(request, user_id)
    return [memory_event_json(e) for e in runner(request).db.memory_events(user, memory_id)]
