"""Tools offered to the model through the Chat Completions ``tools`` protocol."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class ToolError(Exception):
    """A tool could not do what was asked; the message goes back to the model."""


@dataclass
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    fn: Callable[..., str]

    def spec(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


class Toolbox:
    """A set of tools; ``call`` never raises for bad input from the model."""

    def __init__(self, tools: list[Tool] | None = None):
        self._tools = {t.name: t for t in tools or []}

    def __bool__(self) -> bool:
        return bool(self._tools)

    def specs(self) -> list[dict[str, Any]]:
        return [t.spec() for t in self._tools.values()]

    def call(self, name: str, arguments: str) -> str:
        tool = self._tools.get(name)
        if tool is None:
            return f"error: unknown tool {name!r}; available: {', '.join(self._tools)}"
        try:
            args = json.loads(arguments) if arguments and arguments.strip() else {}
        except json.JSONDecodeError as exc:
            return f"error: arguments are not valid JSON ({exc.msg})"
        except (ValueError, RecursionError):  # a 5,000-digit number, nesting 100,000 deep
            return "error: arguments are not valid JSON (too large or too deeply nested)"
        if not isinstance(args, dict):
            return "error: arguments must be a JSON object"
        try:
            return tool.fn(**args)
        except ToolError as exc:
            return f"error: {exc}"
        except TypeError as exc:
            return f"error: bad arguments for {name}: {exc}"
