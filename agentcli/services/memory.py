"""User memory: what enters the context, the agentic tools and the automatic manager.

Agentic mode offers the chat model the memory tools during a run. Automatic
mode runs one manager call after each completed run: it sees the user's
message and the reply, plus the relevant memories with their ids, and changes
memories through the same tools. In both, the memories enter the context
within a token budget (see ``recall``).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..core.errors import ToolsRejectedError
from ..core.events import MemoryChanged, Warning
from ..core.notes import TOOLS_REJECTED, Notes
from ..core.protocols import ChatModel, Store
from ..core.records import Memory, Usage
from ..core.text import BYTES_PER_TOKEN, estimate_tokens, grounded
from .memory_edit import change_notice, clean_memory, clean_topics, forget, remember, revise
from .memory_tools import MemoryToolbox
from .recall import Selection, select_memories

if TYPE_CHECKING:
    from ..core.results import RunContext

__all__ = [
    "MemoryManager",
    "MemoryToolbox",
    "change_notice",
    "clean_memory",
    "clean_topics",
    "forget",
    "remember",
    "revise",
]

# Model calls one automatic update may make: another round only follows a
# search or a tool error, so the usual update is a single call.
MANAGER_ROUNDS = 3
# Longest part of the user's message or the reply shown to the manager.
TRANSCRIPT_CHARS = 8000
# Shortest, however small the context window.
MIN_TRANSCRIPT_CHARS = 300
# New memories one answer of the manager may add when it answers in text.
MAX_TEXT_MEMORIES = 5

KNOWN_HEADING = "## What you know about the user"
KNOWN_INTRO = (
    "Facts remembered from earlier conversations with this user. Use them when they "
    "help; do not ask for what they already tell you."
)
MORE_NOTE = (
    "You know more about the user than fits here: the memories most relevant to the "
    "current message are given just before it."
)
AGENTIC_GUIDE = (
    "You can keep these memories up to date with the tools add_memory, update_memory "
    "and delete_memory, and find others with search_memories. When the user tells you "
    "something lasting about themselves (name, preferences, circumstances, plans), "
    "save it as a short third-person sentence; update a memory that has become wrong "
    "instead of adding a contradicting memory; delete a memory the user asks you to "
    "forget. Do not save passing details of the conversation."
)
TURN_HEADING = "## Memories relevant to this message"
MANAGER_PROMPT = (
    "You keep an assistant's long-term memory of one user: short third-person facts "
    "(name, preferences, circumstances, plans, relationships) that will help in later "
    "conversations. Read the conversation turn below. When the user revealed something "
    "new and lasting about themselves, call add_memory; when it changes or contradicts "
    "a known memory, call update_memory with that memory's id; when the user asked to "
    "forget something, call delete_memory. Record only what the user stated or "
    "confirmed in their own message; read the assistant's reply only to understand it, "
    "never as a source of facts. Do not store questions, small talk, general knowledge "
    "or anything the assistant said. When nothing needs to change, answer: none."
)
# For a server that refuses tools: the same job, answered in lines of text.
MANAGER_TEXT_PROMPT = (
    "You keep an assistant's long-term memory of one user: short third-person facts "
    "(name, preferences, circumstances, plans, relationships) that will help in later "
    "conversations. Read the conversation turn below. For each new and lasting fact the "
    "user stated about themselves in their own message, write one line: ADD: followed "
    "by the fact as a short third-person sentence. Never record what the assistant said. "
    "When there is nothing new, answer: none."
)
_ADD_LINE = re.compile(r"^\s*(?:[-*]\s*)?ADD\s*:\s*(.+?)\s*$", re.IGNORECASE | re.MULTILINE)


class MemoryManager:
    """The memory collaborator of an :class:`~agentcli.agent.Agent`."""

    def __init__(
        self,
        db: Store,
        *,
        model: ChatModel,
        agentic: bool,
        automatic: bool,
        token_budget: int = 1500,
        max_tokens: int = 512,
        context_window: Callable[[], int] | None = None,
    ):
        self.db = db
        self.model = model
        self.agentic = agentic
        self.automatic = automatic
        self.token_budget = token_budget
        self.max_tokens = max_tokens
        self.context_window = context_window

    # -- the context ------------------------------------------------------------
    def select(self, user_id: str, message: str, budget: int | None = None) -> Selection:
        chosen = self.token_budget if budget is None else budget
        return select_memories(self.db, user_id, message, chosen)

    def context_blocks(
        self, user_id: str, message: str, *, budget: int | None = None
    ) -> tuple[str | None, str | None]:
        """(part of the system prompt, part placed just before the message).

        The first changes only when memories change, so a provider's prefix
        cache keeps matching; the second exists only when not all memories fit
        and holds those chosen for this message. ``budget`` (tokens) replaces
        the manager's own when a request must shrink to fit the context window.
        """
        chosen = self.select(user_id, message, budget)
        stable = [KNOWN_HEADING]
        if chosen.complete and chosen.memories:
            stable += [KNOWN_INTRO, self.listing(chosen.memories)]
        elif chosen.complete:
            if not self.agentic:
                return None, None
            stable.append("You know nothing about the user yet.")
        else:
            stable.append(MORE_NOTE)
        if self.agentic:
            stable.append(AGENTIC_GUIDE)
        turn = None
        if not chosen.complete and chosen.memories:
            turn = f"{TURN_HEADING}\n{KNOWN_INTRO}\n\n{self.listing(chosen.memories)}"
        return "\n\n".join(stable), turn

    def listing(self, memories: list[Memory], *, ids: bool | None = None) -> str:
        show = self.agentic if ids is None else ids
        return "\n".join(f"- [{m.id}] {m.memory}" if show else f"- {m.memory}" for m in memories)

    # -- agentic mode -------------------------------------------------------------
    def toolbox(self, user_id: str, session_id: str, run_id: str) -> MemoryToolbox | None:
        if not self.agentic:
            return None
        return MemoryToolbox(self.db, user_id, session_id=session_id, run_id=run_id, actor="agent")

    # -- automatic mode -----------------------------------------------------------
    def after_run(self, follow: RunContext) -> None:
        """One manager call on the finished run; raises on failure (the agent warns).

        Every memory it adds or rewrites must be grounded in the user's own
        message (see :func:`agentcli.core.text.grounded`): one that is not is
        dropped, counted in ``memories_rejected`` and listed in ``memory_changes``.
        """
        if not self.automatic:
            return
        started = time.monotonic()
        box = MemoryToolbox(
            self.db,
            follow.user_id,
            session_id=follow.session.session_id,
            run_id=follow.run.run_id,
            actor="manager",
        )
        reply = follow.result.content
        known = self.select(
            follow.user_id, f"{follow.user_message}\n{reply}", budget=self._known_budget()
        )
        # The user's message, what is known of them, and their id (often their name).
        known_text = [m.memory for m in known.memories]
        words = "\n".join([follow.user_message, follow.user_id, *known_text])
        box.guard = lambda text, before: grounded(text, f"{words}\n{before or ''}")
        notes: Notes = getattr(self.model, "notes", None) or Notes()
        usage, model_name, error = Usage(), None, None
        try:
            if notes.recent(TOOLS_REJECTED):
                usage, model_name = self._by_text(box, known, follow)
            else:
                try:
                    usage, model_name = self._by_tools(box, known, follow)
                except ToolsRejectedError:
                    usage, model_name = self._by_text(box, known, follow)
        except Exception as exc:
            error = str(exc) or type(exc).__name__
            raise
        finally:
            follow.result.memory_changes.extend(box.changes)
            follow.result.memories_rejected += box.rejected
            for notice in box.changes:
                follow.emit(MemoryChanged(notice, "manager"))
            self.db.record_model_call(
                user_id=follow.user_id,
                session_pk=follow.session.pk,
                run_pk=follow.run.pk,
                purpose="memory",
                status="error" if error else "completed",
                model=model_name or self.model.id,
                usage=usage,
                error=error,
                duration_ms=int((time.monotonic() - started) * 1000),
            )

    def _by_tools(
        self, box: MemoryToolbox, known: Selection, follow: RunContext
    ) -> tuple[Usage, str | None]:
        """The manager changes memories through the memory tools."""
        specs = box.specs()
        prompt = self._manager_input(known, follow, MANAGER_PROMPT, specs)
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": MANAGER_PROMPT},
            {"role": "user", "content": prompt},
        ]
        usage, model_name = Usage(), None
        for _ in range(MANAGER_ROUNDS):
            response = self.model.complete(
                messages, tools=specs, purpose="memory", max_tokens=self.max_tokens
            )
            usage += response.usage
            model_name = response.model
            for notice in response.notices:
                follow.emit(Warning(notice))
            if not response.tool_calls:
                break
            messages.append(response.to_message())
            again = False
            for call in response.tool_calls:
                result = box.call(call.name, call.arguments)
                again |= result.startswith("error:") or call.name == "search_memories"
                messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
            if not again:
                break
        return usage, model_name

    def _by_text(
        self, box: MemoryToolbox, known: Selection, follow: RunContext
    ) -> tuple[Usage, str | None]:
        """For a server without tools: the manager answers ``ADD: fact`` lines."""
        prompt = self._manager_input(known, follow, MANAGER_TEXT_PROMPT, None)
        messages = [
            {"role": "system", "content": MANAGER_TEXT_PROMPT},
            {"role": "user", "content": prompt},
        ]
        response = self.model.complete(messages, purpose="memory", max_tokens=self.max_tokens)
        for fact in _ADD_LINE.findall(response.content)[:MAX_TEXT_MEMORIES]:
            box.call("add_memory", json.dumps({"memory": fact}))
        return response.usage, response.model

    def _known_budget(self) -> int:
        """Tokens of known memories shown to the manager: the budget, less in a small window."""
        if self.context_window is None:
            return self.token_budget
        return min(self.token_budget, self.context_window() // 6)

    def _manager_input(
        self,
        known: Selection,
        follow: RunContext,
        prompt: str,
        specs: list[dict[str, Any]] | None,
    ) -> str:
        listing = self.listing(known.memories, ids=True) if known.memories else "(none yet)"
        which = "Known memories" if known.complete else "Known memories most related to this turn"
        head = f"{which} (id in brackets):\n{listing}\n\nThe conversation turn:\n"
        limit = TRANSCRIPT_CHARS
        if self.context_window is not None:
            used = self.max_tokens + estimate_tokens(prompt) + estimate_tokens(head)
            used += estimate_tokens(json.dumps(specs)) if specs else 0
            room = (self.context_window() - used - 128) * BYTES_PER_TOKEN
            limit = max(MIN_TRANSCRIPT_CHARS, min(TRANSCRIPT_CHARS, room * 2 // 3))
        return (
            f"{head}<user>\n{_clip(follow.user_message, limit)}\n</user>\n"
            f"<assistant>\n{_clip(follow.result.content, limit // 2)}\n</assistant>"
        )


def _clip(text: str, limit: int = TRANSCRIPT_CHARS) -> str:
    if len(text) <= limit:
        return text
    head = limit * 3 // 4
    tail = limit - head
    return f"{text[:head]}\n[… {len(text) - head - tail} characters left out …]\n{text[-tail:]}"
