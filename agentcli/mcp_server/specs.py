"""The MCP server's tools as a client lists them: names, descriptions and JSON
schemas written for a model, with the limits that keep every answer small.

``tools.py`` runs them; ``server.py`` puts them on the wire.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ..services.memory_edit import MAX_MEMORY_CHARS, MAX_TOPIC_CHARS, MAX_TOPICS

MAX_BUDGET_TOKENS = 32_000
DEFAULT_PAGE, MAX_PAGE = 20, 100
DEFAULT_HITS, MAX_HITS = 10, 50
DEFAULT_LAST_RUNS, MAX_LAST_RUNS = 10, 100

INSTRUCTIONS = (
    "Long-term memory about the user, kept by agentcli and shared with the user's other "
    "agents. Call recall with the subject at hand before answering anything that may "
    "depend on the user's preferences, circumstances or history. When you learn a lasting "
    "fact about the user, store it with remember as one short third-person sentence; fix "
    "a stored fact with update_memory and remove a wrong one with forget, using the ids "
    "recall and list_memories give. search_sessions and get_session read the user's past "
    "conversations with agentcli."
)


class ToolSpec(NamedTuple):
    """One tool as a client lists it."""

    name: str
    title: str
    description: str
    input_schema: dict[str, Any]
    read_only: bool
    destructive: bool = False
    idempotent: bool = True


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def _integer(description: str, minimum: int, maximum: int, default: int | None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer", "description": description}
    schema.update(minimum=minimum, maximum=maximum)
    if default is not None:
        schema["default"] = default
    return schema


_MEMORY_TEXT = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_MEMORY_CHARS,
    "description": "One lasting fact about the user as a short third-person sentence, "
    "e.g. 'Sarah prefers email over phone.'",
}
_TOPICS = {
    "type": "array",
    "items": {"type": "string", "maxLength": MAX_TOPIC_CHARS},
    "maxItems": MAX_TOPICS,
    "description": "A few short lowercase topics, e.g. ['contact', 'preferences'].",
}
_MEMORY_ID = {
    "type": "integer",
    "description": "The memory's id, as recall or list_memories give it.",
}

TOOLS: list[ToolSpec] = [
    ToolSpec(
        "recall",
        "Recall memories",
        "What you know about the user that bears on a subject: their stored memories "
        "most relevant to `query` (full-text match, then recency), as many as fit in "
        "`budget_tokens`, each with its id. `complete` is true when these are all the "
        "memories the user has. Call it before answering anything that may depend on "
        "the user's preferences, circumstances or history.",
        _object(
            {
                "query": {
                    "type": "string",
                    "minLength": 1,
                    "description": "The subject or question, in plain words, e.g. "
                    "'how to contact her' or 'diet and food'.",
                },
                "budget_tokens": _integer(
                    "Most tokens of memory text to return (about 4 characters a token). "
                    "Leave it out for the configured budget.",
                    1,
                    MAX_BUDGET_TOKENS,
                    None,
                ),
            },
            ["query"],
        ),
        read_only=True,
    ),
    ToolSpec(
        "remember",
        "Remember a fact",
        "Store one lasting fact about the user. A memory that says the same as a stored "
        "one (ignoring case, spacing and punctuation) is not stored twice: then `added` "
        "is false and `memory` is the one already stored. To change a stored fact use "
        "update_memory instead.",
        _object({"memory": _MEMORY_TEXT, "topics": _TOPICS}, ["memory"]),
        read_only=False,
    ),
    ToolSpec(
        "update_memory",
        "Update a memory",
        "Replace the text of a stored memory that changed or was wrong. `topics`, when "
        "given, replaces the memory's topics; leave it out to keep them. Fails when "
        "another memory already says the same.",
        _object(
            {"memory_id": _MEMORY_ID, "memory": _MEMORY_TEXT, "topics": _TOPICS},
            ["memory_id", "memory"],
        ),
        read_only=False,
        destructive=True,
    ),
    ToolSpec(
        "forget",
        "Forget a memory",
        "Delete a stored memory that is wrong or that the user asked you to forget.",
        _object({"memory_id": _MEMORY_ID}, ["memory_id"]),
        read_only=False,
        destructive=True,
        idempotent=False,
    ),
    ToolSpec(
        "list_memories",
        "List memories",
        "Page through all of the user's memories, oldest first, or only those with one "
        "topic. To find memories about something, use recall. `total` counts every "
        "matching memory; `next_offset` is the offset of the next page, null after the "
        "last one.",
        _object(
            {
                "topic": {
                    "type": "string",
                    "description": "Only memories carrying this topic, e.g. 'contact'.",
                },
                "limit": _integer("Most memories on this page.", 1, MAX_PAGE, DEFAULT_PAGE),
                "offset": _integer("How many memories to skip.", 0, 2**31 - 1, 0),
            },
            [],
        ),
        read_only=True,
    ),
    ToolSpec(
        "search_sessions",
        "Search past conversations",
        "Search the messages of the user's past chat sessions with agentcli for words, "
        "best match first: each hit gives the session id, run id, role, time and a "
        "snippet. Read a whole session with get_session.",
        _object(
            {
                "query": {
                    "type": "string",
                    "minLength": 1,
                    "description": "Words to find, e.g. 'flight to Oslo'.",
                },
                "limit": _integer("Most hits to return.", 1, MAX_HITS, DEFAULT_HITS),
            },
            ["query"],
        ),
        read_only=True,
    ),
    ToolSpec(
        "get_session",
        "Read a past conversation",
        "One of the user's chat sessions: its name, its summary of older runs (when it "
        "has one) and the messages of its last runs, oldest first. `runs` counts all of "
        "its runs.",
        _object(
            {
                "session_id": {
                    "type": "string",
                    "minLength": 1,
                    "description": "The session id, as search_sessions gives it.",
                },
                "last_runs": _integer(
                    "How many of the latest runs (a user message and its replies) to return.",
                    1,
                    MAX_LAST_RUNS,
                    DEFAULT_LAST_RUNS,
                ),
            },
            ["session_id"],
        ),
        read_only=True,
    ),
]
