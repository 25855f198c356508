"""What every command shares: its state, the common options, confirmation."""

from __future__ import annotations

from typing import Annotated

import typer

from ..appstate import AppState

UserOption = Annotated[
    str | None,
    typer.Option(
        "--user", "-u", help="User id [default: the configured default user, else your login name]"
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


def state(ctx: typer.Context) -> AppState:
    """The invocation's state, which the root command set up."""
    root = ctx.find_root()
    if not isinstance(root.obj, AppState):
        root.obj = AppState()
        ctx.call_on_close(root.obj.close)
    return root.obj


def confirm(st: AppState, question: str, yes: bool) -> bool:
    """Ask in a terminal; without one, ``--yes`` is required."""
    if yes:
        return True
    if not st.env.stdin_isatty:
        from ..core.errors import UsageError

        raise UsageError("refusing to proceed without confirmation: pass --yes")
    from ..render import safe_text

    return typer.confirm(safe_text(question), default=False)
