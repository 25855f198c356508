"""Numeric options of single commands, checked against their range in ``core.ranges``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer

from ..core.ranges import Range


def within(allowed: Range) -> Callable[[typer.Context, typer.CallbackParam, Any], Any]:
    """A parameter callback refusing a number outside ``allowed`` (a usage error, exit 2),
    before the command runs: e.g. ``typer.Option(callback=within(LIST_LIMIT))``."""

    def check(ctx: typer.Context, param: typer.CallbackParam, value: Any) -> Any:
        if value is None or ctx.resilient_parsing or allowed.holds(value):
            return value
        from ..core.errors import UsageError
        from ..core.ranges import shown

        if param.param_type_name == "argument":
            name = (param.name or "value").replace("_", " ")
        else:
            name = max(param.opts, key=len)
        raise UsageError(f"{name} must be {allowed.describe()}, got {shown(value)}")

    return check
