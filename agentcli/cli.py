"""The ``agentcli`` command: parse, call the services, render, map errors to exit statuses.

:func:`main` is the one entry point and the one error boundary: every
expected failure becomes one line ``agentcli: error: ...`` on stderr and its
exit status, here and nowhere else.
"""

# No ``from __future__ import annotations`` here: Typer would then evaluate the
# root options' annotations from strings at every start (about 5 ms).
import os
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from . import __version__
from .appstate import AppState
from .commands import RootGroup
from .core.errors import AgentCliError, ExitStatus

if TYPE_CHECKING:
    from .render import Env

# Start-up cost matters (scripts call agentcli in loops): this module imports
# typer and light modules only; each command's module is imported when that
# command runs (see commands/__init__.py), heavy packages (openai,
# prompt_toolkit, Rich) inside the functions that use them. ``--help`` loads
# neither sqlite3 nor the config and render modules.

app = typer.Typer(
    name="agentcli",
    cls=RootGroup,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
    help="A command-line chat tool whose agent remembers: session history and user memory "
    "in one local SQLite file.",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"agentcli {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="Database file or PostgreSQL URL [env: AGENTCLI_DB]",
            show_default=False,
        ),
    ] = None,
    traceback: Annotated[
        bool, typer.Option("--traceback", help="Show the traceback of an error.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """A command-line chat tool whose agent remembers."""
    from .commands.common import state

    st = state(ctx)
    st.db_override = db
    st.traceback = traceback


def main(argv: list[str] | None = None, env: "Env | None" = None) -> int:
    """Run ``agentcli`` with ``argv`` (default: the process's arguments); return its exit status.

    ``env`` holds the streams and terminal facts the commands use (tests pass
    their own). Expected failures are one line on stderr; ``--traceback`` (in
    ``argv``) or ``AGENTCLI_DEBUG`` adds the traceback, never changing the status.
    """
    state = AppState(env)
    try:
        status = typer.main.get_command(app).main(
            args=sys.argv[1:] if argv is None else list(argv),
            prog_name="agentcli",
            standalone_mode=False,
            obj=state,
        )
    except BaseException as exc:  # noqa: BLE001 - this is the boundary
        return _failed(exc, state)
    finally:
        state.close()
    # A command's return value, or the status of a typer.Exit it raised.
    return status if isinstance(status, int) else ExitStatus.OK


def run() -> None:
    """The console script."""
    sys.exit(main())


def _failed(exc: BaseException, state: AppState) -> int:
    """Report ``exc`` on stderr (one line, or the parser's usage message); its exit status."""
    stderr = state.env.stderr
    if isinstance(exc, typer.TyperException):  # Click's usage errors: usage, then the error
        show = getattr(exc, "show", None)
        if show is not None:
            show(file=stderr)
        else:
            stderr.write(f"agentcli: error: {_inert(exc.message)}\n")
        return int(getattr(exc, "exit_code", ExitStatus.USAGE))
    if isinstance(exc, typer.Abort | KeyboardInterrupt):
        stderr.write("\n")
        return ExitStatus.INTERRUPTED
    if _broken_pipe(exc):
        # The reader went away (e.g. `| head`): nothing more to say, nowhere to say it.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return ExitStatus.ERROR
    if isinstance(exc, SystemExit):
        return exc.code if isinstance(exc.code, int) else ExitStatus.ERROR
    if os.environ.get("AGENTCLI_DEBUG") or state.traceback:
        import traceback

        traceback.print_exception(exc, file=stderr)
    if isinstance(exc, AgentCliError):
        message, status = str(exc), exc.exit_status
    else:
        first = str(exc).splitlines()[0] if str(exc) else ""
        message = (
            f"unexpected {type(exc).__name__}: {first} (run again with --traceback for details)"
        )
        status = ExitStatus.ERROR
    # Messages can carry text from a server or the database: made inert.
    stderr.write(f"agentcli: error: {_inert(message)}\n")
    stderr.flush()
    return int(status)


def _broken_pipe(exc: BaseException) -> bool:
    # Click turns a broken pipe into SystemExit(1) raised while handling it.
    return isinstance(exc, BrokenPipeError) or (
        isinstance(exc, SystemExit) and isinstance(exc.__context__, BrokenPipeError)
    )


def _inert(text: str) -> str:
    from .render import safe_text

    return safe_text(text)
