"""The memory tools offered to a model: add, update, delete and search memories.

The user id is bound here by the runtime; no tool takes one. Bad input from the
model (wrong types, unknown or foreign ids, duplicates) becomes an error result
the model can read, never an exception that ends the run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..core.errors import DuplicateMemoryError, NotFoundError, UsageError
from ..core.protocols import Store
from ..core.records import Memory
from ..core.tools import Tool, Toolbox, ToolError
from . import recall
from .memory_edit import change_notice, clean_memory, clean_topics

SEARCH_LIMIT = 10
REJECTED = (
    "rejected: the user did not say this in their message; record only what the user "
    "stated or confirmed"
)

_TOPICS = {
    "type": "array",
    "items": {"type": "string"},
    "description": "A few short lowercase topics, e.g. ['contact', 'preferences'].",
}
_ID = {"type": "integer", "description": "The memory's id, as shown in [brackets]."}


class MemoryToolbox(Toolbox):
    """The four memory tools for one user; ``changes`` lists what they changed."""

    def __init__(
        self,
        db: Store,
        user_id: str,
        *,
        session_id: str | None,
        run_id: str | None,
        actor: str,
    ):
        self.db = db
        self.user_id = user_id
        self.session_id = session_id
        self.run_id = run_id
        self.actor = actor
        self.changes: list[str] = []
        # When set, a memory to add or rewrite must pass it (the text, and the
        # memory it replaces); one that does not is refused and counted.
        self.guard: Callable[[str, str | None], bool] | None = None
        self.rejected = 0
        super().__init__(
            [
                Tool(
                    "add_memory",
                    "Remember a lasting fact about the user, as a short third-person "
                    "sentence (e.g. 'Alex is vegetarian.').",
                    _object({"memory": {"type": "string"}, "topics": _TOPICS}, ["memory"]),
                    self.add_memory,
                ),
                Tool(
                    "update_memory",
                    "Replace the text (and topics) of a memory that changed or was wrong.",
                    _object(
                        {"memory_id": _ID, "memory": {"type": "string"}, "topics": _TOPICS},
                        ["memory_id", "memory"],
                    ),
                    self.update_memory,
                ),
                Tool(
                    "delete_memory",
                    "Forget a memory that is wrong or that the user asked you to forget.",
                    _object({"memory_id": _ID}, ["memory_id"]),
                    self.delete_memory,
                ),
                Tool(
                    "search_memories",
                    "Search the user's memories by words; returns the best matches with ids.",
                    _object({"query": {"type": "string"}}, ["query"]),
                    self.search_memories,
                ),
            ]
        )

    # -- the tools ------------------------------------------------------------
    def add_memory(self, memory: Any, topics: Any = None) -> str:
        text, tags = _text(memory), _tags(topics)
        if not self._allowed(text, None):
            return REJECTED
        stored, added = self.db.add_memory(
            self.user_id,
            text,
            tags or [],
            actor=self.actor,
            session_id=self.session_id,
            run_id=self.run_id,
        )
        if not added:
            return f"memory {stored.id} already says that; nothing was added"
        self.changes.append(change_notice("added", stored))
        return f"added memory {stored.id}"

    def update_memory(self, memory_id: Any, memory: Any, topics: Any = None) -> str:
        number, text, tags = _memory_id(memory_id), _text(memory), _tags(topics)
        try:
            before = self.db.get_memory(self.user_id, number)
            if not self._allowed(text, before.memory):
                return REJECTED
            after = self.db.update_memory(
                self.user_id,
                number,
                memory=text,
                topics=tags,
                actor=self.actor,
                session_id=self.session_id,
                run_id=self.run_id,
            )
        except (NotFoundError, DuplicateMemoryError) as exc:
            raise ToolError(_short(exc)) from None
        if after == before:
            return f"memory {number} already says that; nothing changed"
        self.changes.append(change_notice("updated", after))
        return f"updated memory {number}"

    def delete_memory(self, memory_id: Any) -> str:
        number = _memory_id(memory_id)
        try:
            gone = self.db.delete_memory(self.user_id, number, actor=self.actor, run_id=self.run_id)
        except NotFoundError as exc:
            raise ToolError(_short(exc)) from None
        self.changes.append(change_notice("deleted", gone))
        return f"deleted memory {number}"

    def _allowed(self, text: str, before: str | None) -> bool:
        if self.guard is None or self.guard(text, before):
            return True
        self.rejected += 1
        self.changes.append(f"memory rejected (not in the user's words): {text}")
        return False

    def search_memories(self, query: Any) -> str:
        if not isinstance(query, str) or not query.strip():
            raise ToolError("query must be a non-empty string")
        hits = recall.search_memories(self.db, self.user_id, query, SEARCH_LIMIT)
        if not hits:
            return "no memories match"
        return "\n".join(_line(m) for m in hits)


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ToolError("memory must be a string")
    try:
        return clean_memory(value)
    except UsageError as exc:
        raise ToolError(str(exc)) from None


def _tags(value: Any) -> list[str] | None:
    try:
        return clean_topics(value)
    except UsageError as exc:
        raise ToolError(str(exc)) from None


def _memory_id(value: Any) -> int:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ToolError("memory_id must be an integer")
    try:
        return int(value)
    except ValueError:
        raise ToolError(f"memory_id must be an integer, got {value!r}") from None


def _short(exc: Exception) -> str:
    """'no memory 7' without the user id: the model never needs it."""
    return str(exc).split(" for user ")[0]


def _line(memory: Memory) -> str:
    topics = f" (topics: {', '.join(memory.topics)})" if memory.topics else ""
    return f"[{memory.id}] {memory.memory}{topics}"
