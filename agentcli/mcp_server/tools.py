"""What the MCP server's tools do (``specs.py`` describes them), and the Markdown
of the memory resource.

Plain Python over the services, without the ``mcp`` package: ``server.py``
puts these on the wire. The user id is given by the caller (bound on the
command line, or by the HTTP server), never read from a tool's arguments, so a
model can reach no other user's memories or sessions: another user's memory
id is "not found". Every change is recorded in the memory's history with the
actor ``mcp``. Bad arguments, unknown ids and duplicates raise
:class:`~agentcli.core.tools.ToolError` with a message the model can act on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..core.errors import AgentCliError, DuplicateMemoryError, NotFoundError, StoreError
from ..core.protocols import Store
from ..core.records import Memory
from ..core.tools import ToolError, argument_problem
from ..services.liveness import sweep_interrupted
from ..services.memory_edit import forget, remember, revise
from ..services.recall import CHARS_PER_TOKEN, page_memories, select_memories
from ..services.serialize import memory_json, search_hit_json, session_document
from .specs import DEFAULT_HITS, DEFAULT_LAST_RUNS, DEFAULT_PAGE, TOOLS, ToolSpec

ACTOR = "mcp"


class Arguments:
    """A tool call's arguments, checked against the tool's schema."""

    def __init__(self, spec: ToolSpec, given: Mapping[str, Any]):
        self.schema = spec.input_schema["properties"]
        self.given = given
        if ("user_id" in given or "user" in given) and not {"user_id", "user"} & set(self.schema):
            raise ToolError("no tool takes a user: the server is bound to one user")
        problem = argument_problem(spec.input_schema, dict(given))
        if problem is not None:
            raise ToolError(problem)

    def text(self, name: str) -> str | None:
        value = self.given.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            raise ToolError(f"{name} must be a string")
        if not value.strip() and self.schema[name].get("minLength"):
            raise ToolError(f"{name} must not be empty")
        return value

    def integer(self, name: str) -> int | None:
        schema = self.schema[name]
        value = self.given.get(name, schema.get("default"))
        if value is None:
            return None
        number: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
            number = int(value)
        low, high = schema.get("minimum"), schema.get("maximum")
        if number is None or (low is not None and number < low):
            raise ToolError(_int_rule(name, low, high))
        if high is not None and number > high:
            raise ToolError(_int_rule(name, low, high))
        return number

    def topics(self, name: str) -> list[str] | None:
        value = self.given.get(name)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
            raise ToolError(f"{name} must be a list of strings")
        return value


def _int_rule(name: str, low: int | None, high: int | None) -> str:
    if low is None:
        return f"{name} must be an integer"
    if high is None or high >= 2**31 - 1:
        return f"{name} must be an integer of at least {low}"
    return f"{name} must be an integer from {low} to {high}"


class MemoryTools:
    """The tools over one store; each call names the user it acts for."""

    def __init__(self, store: Store, *, memory_budget: int):
        self.store = store
        self.memory_budget = memory_budget
        self.specs = {spec.name: spec for spec in TOOLS}
        self._handlers: dict[str, Callable[[str, Arguments], dict[str, Any]]] = {
            "recall": self.recall,
            "remember": self.remember,
            "update_memory": self.update_memory,
            "forget": self.forget,
            "list_memories": self.list_memories,
            "search_sessions": self.search_sessions,
            "get_session": self.get_session,
        }

    def call(self, user_id: str, name: str, arguments: Mapping[str, Any] | None) -> dict[str, Any]:
        """Run tool ``name`` for ``user_id``; its answer as a JSON object.

        Raises :class:`ToolError` for anything the model can correct or should
        know (its message says what); other exceptions are bugs."""
        spec = self.specs.get(name)
        if spec is None:
            raise ToolError(f"unknown tool {name!r} (tools: {', '.join(self.specs)})")
        if arguments is not None and not isinstance(arguments, Mapping):
            raise ToolError("arguments must be a JSON object")
        args = Arguments(spec, arguments or {})
        try:
            return self._handlers[name](user_id, args)
        except StoreError as exc:
            raise ToolError(f"the memory store failed: {exc}") from None
        except AgentCliError as exc:  # UsageError from the services' checks, duplicates
            raise ToolError(str(exc)) from None

    # -- memories -------------------------------------------------------------
    def recall(self, user_id: str, args: Arguments) -> dict[str, Any]:
        query = args.text("query") or ""
        budget = args.integer("budget_tokens")
        budget = self.memory_budget if budget is None else budget
        chosen = select_memories(self.store, user_id, query, budget)
        return {
            "budget_tokens": budget,
            "used_tokens": -(-sum(len(m.memory) for m in chosen.memories) // CHARS_PER_TOKEN),
            "complete": chosen.complete,
            "memories": [memory_json(m) for m in chosen.memories],
        }

    def remember(self, user_id: str, args: Arguments) -> dict[str, Any]:
        text = args.text("memory") or ""
        stored, added = remember(self.store, user_id, text, args.topics("topics"), actor=ACTOR)
        message = (
            f"added memory {stored.id}"
            if added
            else f"memory {stored.id} already says that; nothing was added"
        )
        return {"added": added, "message": message, "memory": memory_json(stored)}

    def update_memory(self, user_id: str, args: Arguments) -> dict[str, Any]:
        number = self._memory_id(args)
        text = args.text("memory") or ""
        topics = args.topics("topics")
        try:
            before = self.store.get_memory(user_id, number)
            after = revise(self.store, user_id, number, text, topics, actor=ACTOR)
        except NotFoundError:
            raise ToolError(f"memory {number} not found") from None
        except DuplicateMemoryError as exc:
            raise ToolError(f"{exc}; memory {number} was not changed") from None
        changed = after != before
        message = f"updated memory {number}" if changed else f"memory {number} already says that"
        return {"updated": changed, "message": message, "memory": memory_json(after)}

    def forget(self, user_id: str, args: Arguments) -> dict[str, Any]:
        number = self._memory_id(args)
        try:
            gone = forget(self.store, user_id, number, actor=ACTOR)
        except NotFoundError:
            raise ToolError(f"memory {number} not found") from None
        return {"deleted": True, "message": f"deleted memory {number}", "memory": memory_json(gone)}

    def list_memories(self, user_id: str, args: Arguments) -> dict[str, Any]:
        topic = args.text("topic")
        tag = " ".join(topic.lower().split()) if topic is not None else None
        limit = args.integer("limit") or DEFAULT_PAGE
        offset = args.integer("offset") or 0
        page = page_memories(self.store, user_id, topic=tag, limit=limit, offset=offset)
        following = offset + len(page.memories)
        return {
            "total": page.total,
            "offset": offset,
            "next_offset": following if following < page.total else None,
            "memories": [memory_json(m) for m in page.memories],
        }

    @staticmethod
    def _memory_id(args: Arguments) -> int:
        number = args.integer("memory_id")
        assert number is not None  # required
        return number

    # -- sessions -------------------------------------------------------------
    def search_sessions(self, user_id: str, args: Arguments) -> dict[str, Any]:
        query = args.text("query") or ""
        limit = args.integer("limit") or DEFAULT_HITS
        hits = self.store.search_messages(query, user_id, limit=limit)
        return {"hits": [search_hit_json(h) for h in hits]}

    def get_session(self, user_id: str, args: Arguments) -> dict[str, Any]:
        session_id = args.text("session_id") or ""
        last_runs = args.integer("last_runs") or DEFAULT_LAST_RUNS
        sweep_interrupted(self.store)
        found = self.store.get_session(user_id, session_id)
        if found is None:
            raise ToolError(f"session {session_id!r} not found")
        messages = self.store.session_messages(found.pk, last_runs=last_runs)
        settings = self.store.run_settings(found.pk)
        return {**session_document(found, messages, run_settings=settings), "runs": found.runs}

    # -- the resource -----------------------------------------------------------
    def memories_markdown(self, user_id: str) -> str:
        """Every memory of the user as a Markdown list, oldest first."""
        return memories_markdown(user_id, self.store.list_memories(user_id))


def memories_markdown(user_id: str, memories: list[Memory]) -> str:
    """'# Memories of sarah' and one list item per memory, with its id and topics."""
    lines = [f"# Memories of {user_id}", ""]
    if not memories:
        lines.append("No memories yet.")
    for memory in memories:
        topics = f" ({', '.join(memory.topics)})" if memory.topics else ""
        lines.append(f"- [{memory.id}] {memory.memory}{topics}")
    return "\n".join(lines) + "\n"
