"""User memory: automatic extraction, agentic tools and retrieval into the context."""

from __future__ import annotations


class MemoryManager:
    """Placeholder until user memory lands: adds nothing to the context."""

    def __init__(self, db, *, model, agentic: bool, automatic: bool, token_budget: int):
        self.db = db

    def context_block(self, user_id: str, message: str) -> str | None:
        return None

    def toolbox(self, user_id: str, session_id: str, run_id: str):
        return None

    def after_run(self, follow) -> None:
        return None
