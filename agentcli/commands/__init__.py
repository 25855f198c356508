"""The CLI's commands, one module each, loaded only when used.

``agentcli --help`` lists :data:`COMMANDS` without importing any command
module, and ``agentcli memories list`` imports ``commands/memories.py``
alone and converts only its ``list`` command for the parser: the cost of
starting one command does not grow with the others. A new top-level command
is one line here (a test checks the help matches).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator, MutableMapping
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
    "mcp": (
        "mcp_command",
        "mcp",
        "Serve a user's memories and sessions to MCP clients over stdio.",
    ),
    "serve": (
        "serve",
        "serve",
        "Serve the agent over HTTP: a native API and an OpenAI-compatible endpoint.",
    ),
}


def build(name: str) -> Any:
    """The click command for ``name``, converted by Typer from its module's object."""
    import typer

    module, attribute, _ = COMMANDS[name]
    target = getattr(import_module(f"{__name__}.{module}"), attribute)
    holder = _holder()
    if isinstance(target, typer.Typer):
        # The group without its commands; each is converted when used.
        shell = copy.copy(target)
        shell.registered_commands = []
        holder.add_typer(shell, name=name)
        group = typer.main.get_command(holder).commands[name]  # type: ignore[attr-defined]
        infos = {_name(info): info for info in target.registered_commands}
        group.commands = Lazy(infos, lambda sub: _command(infos[sub]))
        return group
    holder.command(name=name)(target)
    return typer.main.get_command(holder)


def _holder() -> Any:
    """A throwaway parent that gives a command what the root would: no Rich
    markup, no completion options of its own."""
    import typer

    return typer.Typer(rich_markup_mode=None, add_completion=False)


def _name(info: Any) -> str:
    import typer

    return info.name or typer.main.get_command_name(info.callback.__name__)


def _command(info: Any) -> Any:
    import typer

    holder = _holder()
    holder.registered_commands.append(info)
    return typer.main.get_command(holder)


class Lazy(MutableMapping):
    """A group's ``commands``: every name known, each built by ``make`` on first access."""

    def __init__(self, names: Iterable[str], make: Callable[[str], Any]):
        self._names = list(names)
        self._make = make
        self._built: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._built:
            if name not in self._names:
                raise KeyError(name)
            self._built[name] = self._make(name)
        return self._built[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        del self._built[name]

    def __iter__(self) -> Iterator[str]:
        yield from self._names
        yield from (name for name in self._built if name not in self._names)

    def __len__(self) -> int:
        return len(set(self._names) | set(self._built))


class LazyCommands(Lazy):
    """The root group's ``commands``: :data:`COMMANDS`, each built on first access."""

    def __init__(self, extra: dict[str, Any] | None = None):
        super().__init__(COMMANDS, build)
        self._built.update(extra or {})

    def help(self, name: str) -> str:
        return COMMANDS[name][2] if name in COMMANDS else self[name].get_short_help_str()
