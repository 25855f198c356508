"""User memory: what enters the context, the agentic tools and the automatic manager.

Agentic mode offers the chat model the memory tools during a run. Automatic
mode runs one manager call after each completed run: it sees the user's
message and the reply, plus the relevant memories with their ids, and changes
memories through the same tools. In both, the memories enter the context
within a token budget (see ``recall``).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ..core.events import MemoryChanged
from ..core.protocols import ChatModel, Store
from ..core.records import Memory, Usage
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
    "forget something, call delete_memory. Learn from what the user said; read the "
    "reply only to understand it. Do not store questions, small talk or what the "
    "assistant said about itself. When nothing needs to change, answer: none."
)


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
    ):
        self.db = db
        self.model = model
        self.agentic = agentic
        self.automatic = automatic
        self.token_budget = token_budget

    # -- the context ------------------------------------------------------------
    def select(self, user_id: str, message: str) -> Selection:
        return select_memories(self.db, user_id, message, self.token_budget)

    def context_blocks(self, user_id: str, message: str) -> tuple[str | None, str | None]:
        """(part of the system prompt, part placed just before the message).

        The first changes only when memories change, so a provider's prefix
        cache keeps matching; the second exists only when not all memories fit
        and holds those chosen for this message.
        """
        chosen = self.select(user_id, message)
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
        """One manager call on the finished run; raises on failure (the agent warns)."""
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
        known = self.select(follow.user_id, f"{follow.user_message}\n{reply}")
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": MANAGER_PROMPT},
            {"role": "user", "content": self._manager_input(known, follow.user_message, reply)},
        ]
        usage, model_name, error = Usage(), None, None
        try:
            for _ in range(MANAGER_ROUNDS):
                response = self.model.complete(messages, tools=box.specs(), purpose="memory")
                usage += response.usage
                model_name = response.model
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
        except Exception as exc:
            error = str(exc) or type(exc).__name__
            raise
        finally:
            follow.result.memory_changes.extend(box.changes)
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

    def _manager_input(self, known: Selection, message: str, reply: str) -> str:
        listing = self.listing(known.memories, ids=True) if known.memories else "(none yet)"
        which = "Known memories" if known.complete else "Known memories most related to this turn"
        return (
            f"{which} (id in brackets):\n{listing}\n\n"
            f"The conversation turn:\n<user>\n{_clip(message)}\n</user>\n"
            f"<assistant>\n{_clip(reply)}\n</assistant>"
        )


def _clip(text: str) -> str:
    if len(text) <= TRANSCRIPT_CHARS:
        return text
    head = TRANSCRIPT_CHARS * 3 // 4
    tail = TRANSCRIPT_CHARS - head
    return f"{text[:head]}\n[… {len(text) - head - tail} characters left out …]\n{text[-tail:]}"
