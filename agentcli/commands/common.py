"""What every command shares: its state, the common options, confirmation."""

from __future__ import annotations

from typing import Annotated

import typer

from ..appstate import AppState
from .complete import session_ids

UserOption = Annotated[
    str | None,
    typer.Option(
        "--user", "-u", help="User id [default: the configured default user, else your login name]"
    ),
]
SessionArg = Annotated[
    str | None,
    typer.Argument(
        help="The session id (or give it with --session).",
        show_default=False,
        autocompletion=session_ids,
    ),
]
SessionOption = Annotated[
    str | None,
    typer.Option(
        "--session",
        "-s",
        help="The session id, as in chat.",
        show_default=False,
        autocompletion=session_ids,
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


def session_id(argument: str | None, option: str | None) -> str:
    """The session id, given as an argument or with ``--session`` (once)."""
    if argument is not None and option is not None and argument != option:
        from ..core.errors import UsageError

        raise UsageError("give the session id once: as an argument or with --session")
    chosen = argument if argument is not None else option
    if chosen is None:
        from ..core.errors import UsageError

        raise UsageError("missing the session id: give it as an argument or with --session")
    return chosen


def confirm(st: AppState, question: str, yes: bool) -> bool:
    """Ask in a terminal; without one, ``--yes`` is required."""
    if yes:
        return True
    if not st.env.stdin_isatty:
        from ..core.errors import UsageError

        raise UsageError("refusing to proceed without confirmation: pass --yes")
    from ..render import safe_text

    return typer.confirm(safe_text(question), default=False)
