"""The CLI's commands, one module each, loaded only when used.

``agentcli --help`` lists :data:`COMMANDS` without importing any command
module, and ``agentcli memories list`` imports ``commands/memories.py``
alone and converts only its ``list`` command for the parser: the cost of
starting one command does not grow with the others. Both go through Click's
hooks for this, ``list_commands`` and ``get_command`` on a group
(:class:`LazyGroup`). A new top-level command is one line here (a test checks
the help matches); a new subcommand is one decorated function in its group's
module.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any, TypeVar

import typer
from typer.core import TyperGroup

# name -> (module in this package, its command function or Subcommands, one-line help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "chat": (
        "chat",
        "chat",
        "Chat with the agent: one message from the argument or stdin, or the REPL.",
    ),
    "sessions": ("sessions", "group", "List, show, rename, delete, export and search sessions."),
    "memories": ("memories", "group", "List, search, add, edit and delete user memories."),
    "summarize": (
        "summarize",
        "summarize",
        "Bring a session's summary up to date with every completed run and print it.",
    ),
    "config": ("config", "group", "Show the configuration file and settings."),
    "roles": ("roles", "group", "List, show and edit roles: named instructions and settings."),
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
    "db": ("db", "group", "Copy a database into another and show what one holds."),
    "models": (
        "models",
        "models",
        "List the endpoint's models and your aliases, the default marked *",
    ),
    "doctor": (
        "doctor",
        "doctor",
        "Check the model endpoint: reachable, streaming, usage, tool calls, context window.",
    ),
}

Function = TypeVar("Function", bound=Callable[..., Any])


class Subcommands:
    """The command functions of a group, by name, in the order they are registered.

    ``@group.command()`` registers a function as Typer's ``@app.command()``
    would, without converting it: the group converts one when it is used.
    """

    def __init__(self) -> None:
        self.functions: dict[str, Callable[..., Any]] = {}

    def command(self, name: str | None = None) -> Callable[[Function], Function]:
        def register(function: Function) -> Function:
            self.functions[name or function.__name__.replace("_", "-")] = function
            return function

        return register


def convert(function: Callable[..., Any], name: str) -> Any:
    """One command function as a Click command, converted by Typer (a one-command app)."""
    holder = typer.Typer(rich_markup_mode=None, add_completion=False)
    holder.command(name=name)(function)
    return typer.main.get_command(holder)


def build(name: str) -> Any:
    """The Click command (or group) for the top-level command ``name``."""
    module, attribute, help_text = COMMANDS[name]
    target = getattr(import_module(f"{__name__}.{module}"), attribute)
    if isinstance(target, Subcommands):
        return SubGroup(
            target, name=name, help=help_text, no_args_is_help=True, rich_markup_mode=None
        )
    return convert(target, name)


class LazyGroup(TyperGroup):
    """A group that names its commands up front and loads each on first use.

    Subclasses say which names there are (:meth:`names`) and how one is made
    (:meth:`load`); Click asks through ``list_commands``/``get_command``.
    """

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self._loaded: dict[str, Any] = {}

    def names(self) -> list[str]:
        raise NotImplementedError

    def load(self, name: str) -> Any:
        raise NotImplementedError

    def list_commands(self, ctx: Any) -> list[str]:
        return self.names()

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self._loaded:
            if cmd_name not in self.names():
                return None
            self._loaded[cmd_name] = self.load(cmd_name)
        return self._loaded[cmd_name]

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        # An unknown name, with the closest known ones (Typer's own suggestion
        # looks only at commands already loaded).
        name = args[0] if args else ""
        if name[:1].isalnum() and not ctx.resilient_parsing and name not in self.names():
            from difflib import get_close_matches

            close = get_close_matches(name, self.names())
            hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            ctx.fail(f"No such command {name!r}.{hint}")
        return super().resolve_command(ctx, args)


class RootGroup(LazyGroup):
    """``agentcli`` itself: the commands of :data:`COMMANDS`."""

    def names(self) -> list[str]:
        return list(COMMANDS)

    def load(self, name: str) -> Any:
        return build(name)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """The command list from the table above: nothing imported."""
        with formatter.section("Commands"):
            formatter.write_dl([(name, help_text) for name, (_, _, help_text) in COMMANDS.items()])


class SubGroup(LazyGroup):
    """A command group (``sessions``, ``memories``, ``config``) from its :class:`Subcommands`."""

    def __init__(self, subcommands: Subcommands, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.subcommands = subcommands

    def names(self) -> list[str]:
        return list(self.subcommands.functions)

    def load(self, name: str) -> Any:
        return convert(self.subcommands.functions[name], name)
