"""Rows to records, the same for every store: both adapters select the same
columns in the same order, so one function turns a row into its record.

JSON columns arrive as text from SQLite and as text or already decoded from
PostgreSQL (``jsonb``); :func:`json_value` reads either.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from ..core.errors import NotFoundError
from ..core.records import Memory, Message


def json_value(value: Any) -> Any:
    """A JSON column's value: ``None`` when empty, text decoded, anything else as is."""
    if not value:
        return None
    return json.loads(value) if isinstance(value, str) else value


def topics_json(topics: Iterable[str]) -> str:
    return json.dumps(list(topics), ensure_ascii=False)


def check_memory_id(user_id: str, memory_id: int) -> None:
    """An id beyond a 64-bit integer names no memory (rather than a driver error)."""
    if not -(2**63) <= memory_id < 2**63:
        raise NotFoundError(f"no memory {memory_id} for user {user_id!r}")


def memory_record(row: Sequence[Any]) -> Memory:
    """A ``memories`` row: id, user_id, memory, topics, created_at, updated_at,
    created_session_id, created_run_id, updated_session_id, updated_run_id."""
    return Memory(
        id=row[0],
        user_id=row[1],
        memory=row[2],
        topics=json.loads(row[3]) if row[3] != "[]" else [],
        created_at=row[4],
        updated_at=row[5],
        created_session_id=row[6],
        created_run_id=row[7],
        updated_session_id=row[8],
        updated_run_id=row[9],
    )


def message_record(row: Sequence[Any]) -> Message:
    """A message row: run_pk, run_id, seq, role, content, created_at, status,
    tool_calls, tool_call_id[, model, attachments]."""
    run_pk, run_id, seq, role, content, created_at, status, tool_calls, tool_call_id = row[:9]
    model, attachments = row[9:11] if len(row) > 9 else (None, None)
    return Message(
        run_pk=run_pk,
        run_id=run_id,
        seq=seq,
        role=role,
        content=content,
        created_at=created_at,
        status=status,
        tool_calls=json_value(tool_calls),
        tool_call_id=tool_call_id,
        model=model,
        attachments=json_value(attachments),
    )
