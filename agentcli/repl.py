"""The interactive REPL (prompt-toolkit): input, slash commands, streaming replies."""

from __future__ import annotations

from .errors import UsageError


def run_repl(st, agent, settings, *, user_id: str, session_id: str) -> None:
    raise UsageError("the interactive REPL is not available yet: pass a message or pipe one")
