"""Tools offered to the model through the Chat Completions ``tools`` protocol."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class ToolError(Exception):
    """A tool could not do what was asked; the message goes back to the model."""


_TYPES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list",
    "object": "an object",
}


def argument_problem(schema: dict[str, Any], given: dict[str, Any]) -> str | None:
    """What is wrong with a tool call's arguments against the tool's JSON schema,
    in the model's terms (``unknown argument 'foo' (arguments: memory, topics)``),
    or ``None``.

    Checks unknown names (when the schema allows no others), missing required
    ones (``null`` counts as missing) and the type of each value, with list items.
    An integer may also come as an integral number or a string of digits, as
    weaker models send them; bounds and lengths are left to the tool.
    """
    properties: dict[str, Any] = schema.get("properties", {})
    if schema.get("additionalProperties") is False:
        unknown = sorted(set(given) - set(properties))
        if unknown:
            known = ", ".join(properties) or "none"
            return f"unknown argument {unknown[0]!r} (arguments: {known})"
    for name in schema.get("required", []):
        if given.get(name) is None:
            return f"missing argument {name!r}"
    for name, value in given.items():
        expected = properties.get(name, {})
        if value is None or _fits(value, expected):
            continue
        kind = expected.get("type")
        items = expected.get("items", {}).get("type") if kind == "array" else None
        if items in _TYPES:
            return f"{name} must be a list of {items}s"
        return f"{name} must be {_TYPES.get(kind, kind)}"
    return None


def _fits(value: Any, schema: dict[str, Any]) -> bool:
    kind = schema.get("type")
    if kind == "integer":
        if isinstance(value, float):
            return value.is_integer()
        if isinstance(value, str):
            return value.strip().lstrip("-").isdigit()
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "array":
        item = schema.get("items", {})
        return isinstance(value, list) and all(_fits(v, item) for v in value)
    if kind == "string":
        return isinstance(value, str)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "object":
        return isinstance(value, dict)
    return True  # no type, or one this check does not know


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
        problem = argument_problem(tool.parameters, args)
        if problem is not None:
            return f"error: {name}: {problem}"
        try:
            return tool.fn(**{key: value for key, value in args.items() if value is not None})
        except ToolError as exc:
            return f"error: {exc}"
