"""The CLI's commands, one module each, loaded only when used.

``agentcli --help`` lists :data:`COMMANDS` without importing any command
module, and ``agentcli memories list`` imports ``commands/memories.py``
alone: the cost of starting one command does not grow with the others.
A new top-level command is one line here (a test checks the help matches).
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from importlib import import_module
from typing import Any

# name -> (module in this package, its Typer app or command function, one-line help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "chat": (
        "chat",
        "chat",
        "Chat with the agent: one message from the argument or stdin, or the REPL.",
    ),
    "sessions": ("sessions", "app", "List, show, rename, delete, export and search sessions."),
    "memories": ("memories", "app", "List, search, add, edit and delete user memories."),
    "summarize": (
        "summarize",
        "summarize",
        "Bring a session's summary up to date with every completed run and print it.",
    ),
    "config": ("config", "app", "Show the configuration file and settings."),
}


def build(name: str) -> Any:
    """The click command for ``name``, converted by Typer from its module's object."""
    import typer

    module, attribute, _ = COMMANDS[name]
    target = getattr(import_module(f"{__name__}.{module}"), attribute)
    # A throwaway parent gives the command what the root would: no Rich
    # markup, no completion options of its own.
    holder = typer.Typer(rich_markup_mode=None, add_completion=False)
    if isinstance(target, typer.Typer):
        holder.add_typer(target, name=name)
        return typer.main.get_command(holder).commands[name]  # type: ignore[attr-defined]
    holder.command(name=name)(target)
    return typer.main.get_command(holder)


class LazyCommands(MutableMapping):
    """The root group's ``commands``: every name known, each built on first access."""

    def __init__(self, extra: dict[str, Any] | None = None):
        self._built: dict[str, Any] = dict(extra or {})

    def __getitem__(self, name: str) -> Any:
        if name not in self._built:
            if name not in COMMANDS:
                raise KeyError(name)
            self._built[name] = build(name)
        return self._built[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        del self._built[name]

    def __iter__(self) -> Iterator[str]:
        yield from COMMANDS
        yield from (name for name in self._built if name not in COMMANDS)

    def __len__(self) -> int:
        return len(set(COMMANDS) | set(self._built))

    def help(self, name: str) -> str:
        return COMMANDS[name][2] if name in COMMANDS else self[name].get_short_help_str()
