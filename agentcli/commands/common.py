"""What every command shares: its state, the common options, confirmation."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import Annotated

import typer

from ..appstate import AppState
from .complete import model_names, session_ids

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
ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help="Model name or alias [env: AGENTCLI_MODEL]",
        autocompletion=model_names,
    ),
]
EndpointOption = Annotated[
    str | None,
    typer.Option(help="A named endpoint of config.toml [env: AGENTCLI_ENDPOINT]"),
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


OutputOption = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        help="Write to this new file (mode 0600) instead of stdout; - for stdout.",
    ),
]
ForceOption = Annotated[
    bool, typer.Option("--force", help="Replace the --output file if it exists.")
]


def write_private(path: Path, text: str, *, force: bool = False) -> None:
    """Write ``text`` to a new file ``path``, readable by its owner only (0600).

    An existing file is refused unless ``force``; then it is replaced by a new
    0600 file (its old mode and contents go). A symbolic link is never
    followed, not even with ``force``. Nothing is left behind by a failed write.
    """
    from ..core.errors import StoreError, UsageError

    try:
        existing = path.lstat()
    except FileNotFoundError:
        existing = None
    except OSError as exc:
        raise StoreError(f"cannot write {path}: {exc.strerror}") from None
    if existing is not None:
        if stat.S_ISLNK(existing.st_mode):
            raise UsageError(f"{path} is a symbolic link; give the file itself")
        if not force:
            raise UsageError(f"{path} already exists; pass --force to replace it")
        if not stat.S_ISREG(existing.st_mode):
            raise UsageError(f"{path} is not a regular file")
    # A new file beside the target, renamed over it: the target is replaced
    # whole (never written through a link, never left half-written).
    target = path if existing is None else path.with_name(f".{path.name}.{os.getpid()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(target, flags, 0o600)
    except FileExistsError:
        raise UsageError(f"{path} already exists; pass --force to replace it") from None
    except OSError as exc:
        raise StoreError(f"cannot write {path}: {exc.strerror}") from None
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        if target != path:
            os.replace(target, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(target)
        raise StoreError(f"cannot write {path}: {exc.strerror}") from None
