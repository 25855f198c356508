"""One JSON shape for each record: what ``--json`` prints and what a server answers.

Every front end serialises through here, so the CLI, the HTTP API and the MCP
server agree on field names and meaning.
"""

from __future__ import annotations

from typing import Any

from ..core.records import Memory, MemoryEvent, Message, SearchHit, Session

# Around a match in a search snippet, as every store marks it.
MATCH_START, MATCH_END = "\x01", "\x02"


def session_json(session: Session) -> dict[str, Any]:
    return {
        "user_id": session.user_id,
        "session_id": session.session_id,
        "name": session.name,
        "runs": session.runs,
        "created_at": session.created_at,
        "updated_at": session.updated_at,
    }


def message_json(message: Message, *, full: bool = False) -> dict[str, Any]:
    """A message of a session; with ``full`` (export) its tool calls too. ``model`` is
    its run's; a user message carries the ``attachments`` of its run (name, size, kind)."""
    item: dict[str, Any] = {
        "run_id": message.run_id,
        "role": message.role,
        "content": message.content,
        "created_at": message.created_at,
        "status": message.status,
        "model": message.model,
    }
    if message.role == "user":
        item["attachments"] = message.attachments or []
    if full:
        item["tool_calls"] = message.tool_calls
        item["tool_call_id"] = message.tool_call_id
    return item


def session_document(
    session: Session,
    messages: list[Message],
    *,
    full: bool = False,
    run_settings: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A session with its messages (``sessions show --json``; ``full`` for export).

    ``instructions`` and ``role`` are the session's own (``--system``, ``--role``);
    ``run_settings`` what each run was sent: its instructions (``null``: the
    built-in ones), role and generation options."""
    shown = {m.run_id for m in messages}
    return {
        "user_id": session.user_id,
        "session_id": session.session_id,
        "name": session.name,
        "created_at": session.created_at,
        "updated_at": session.updated_at,
        "summary": session.summary,
        "instructions": session.instructions,
        "role": session.role,
        "messages": [message_json(m, full=full) for m in messages],
        "run_settings": [
            {"run_id": run_id, **settings}
            for run_id, settings in (run_settings or {}).items()
            if run_id in shown
        ],
    }


def snippet_pieces(snippet: str) -> list[tuple[str, bool]]:
    """A search snippet as ``(text, is_match)`` pieces on one line, ends trimmed."""
    pieces: list[tuple[str, bool]] = []
    for i, chunk in enumerate(snippet.split(MATCH_START)):
        if i == 0:
            pieces.append((chunk, False))
            continue
        hit, _, rest = chunk.partition(MATCH_END)
        pieces += [(hit, True), (rest, False)]
    flat = [(" ".join(p.split("\n")), h) for p, h in pieces if p]
    if flat and not flat[0][1]:
        flat[0] = (flat[0][0].lstrip(), False)
    if flat and not flat[-1][1]:
        flat[-1] = (flat[-1][0].rstrip(), False)
    return [(p, h) for p, h in flat if p]


def search_hit_json(hit: SearchHit) -> dict[str, Any]:
    spans, at, text = [], 0, []
    for piece, highlighted in snippet_pieces(hit.snippet):
        if highlighted:
            spans.append([at, at + len(piece)])
        at += len(piece)
        text.append(piece)
    return {
        "user_id": hit.user_id,
        "session_id": hit.session_id,
        "run_id": hit.run_id,
        "role": hit.role,
        "created_at": hit.created_at,
        "snippet": "".join(text),
        "highlights": spans,
        "rank": hit.rank,
    }


def memory_json(memory: Memory) -> dict[str, Any]:
    return {
        "id": memory.id,
        "user_id": memory.user_id,
        "memory": memory.memory,
        "topics": memory.topics,
        "created_at": memory.created_at,
        "updated_at": memory.updated_at,
    }


def memory_event_json(event: MemoryEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "memory_id": event.memory_id,
        "user_id": event.user_id,
        "action": event.action,
        "before": event.before,
        "after": event.after,
        "actor": event.actor,
        "run_id": event.run_id,
        "created_at": event.created_at,
    }


def summary_json(summary: Any) -> dict[str, Any]:
    """A :class:`~agentcli.core.results.SessionSummary`."""
    return {
        "user_id": summary.user_id,
        "session_id": summary.session_id,
        "summary": summary.summary,
        "covers_through_run": summary.covers_through_run,
        "runs": summary.runs,
    }


def run_json(result: Any) -> dict[str, Any]:
    """A :class:`~agentcli.core.results.RunResult` (``chat --json``, ``POST /runs``)."""
    return {
        "user_id": result.user_id,
        "session_id": result.session_id,
        "run_id": result.run_id,
        "content": result.content,
        "model": result.model,
        "usage": {
            "input_tokens": result.usage.input_tokens,
            "output_tokens": result.usage.output_tokens,
            # True when the server sent no counts and these are agentcli's estimate.
            "estimated": result.usage.estimated,
        },
        "status": result.status,
        "finish_reason": result.finish_reason,
        "memory_changes": list(result.memory_changes),
        "memories_rejected": result.memories_rejected,
    }
