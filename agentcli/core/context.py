"""Assembling what the model sees: instructions, summary, memories, history, message.

Stable parts come first and parts that change from turn to turn last, so a
provider's prefix cache keeps matching.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .records import Message

DEFAULT_INSTRUCTIONS = "You are a helpful assistant. Answer clearly and concisely."


@dataclass
class Context:
    instructions: str = DEFAULT_INSTRUCTIONS
    summary: str | None = None
    memories: str | None = None
    history: list[list[Message]] = field(default_factory=list)
    message: str = ""
    # Memories chosen for this message alone: sent just before it, after the
    # history, so that everything before them stays the same from turn to turn.
    recalled: str | None = None
    # Image content parts sent with the message (see ``core.attachments``).
    images: list[dict[str, Any]] = field(default_factory=list)

    def system_prompt(self) -> str:
        parts = [self.instructions.strip()]
        if self.summary:
            parts.append(
                "## Summary of the earlier conversation\n"
                "Runs older than the messages below, condensed:\n\n" + self.summary.strip()
            )
        if self.memories:
            parts.append(self.memories.strip())
        return "\n\n".join(p for p in parts if p)

    def messages(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = [{"role": "system", "content": self.system_prompt()}]
        for run in self.history:
            out.extend(m.to_chat() for m in run)
        if self.recalled:
            out.append({"role": "system", "content": self.recalled.strip()})
        if self.images:
            parts = [{"type": "text", "text": self.message}, *self.images]
            out.append({"role": "user", "content": parts})
        else:
            out.append({"role": "user", "content": self.message})
        return out
