"""The ``agentcli`` command: parse, call the core, render, map errors to exit statuses."""

# No ``from __future__ import annotations`` here: Typer would then evaluate the
# root options' annotations from strings at every start (about 5 ms).
import os
import sys
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from . import __version__
from .commands import LazyCommands
from .core.errors import AgentCliError, ExitStatus

# Start-up cost matters (scripts call agentcli in loops): this module imports
# typer and light standard modules only; each command's module is imported
# when that command runs (see commands/__init__.py), heavy packages (openai,
# prompt_toolkit, Rich) inside the functions that use them. ``--help`` loads
# neither sqlite3 nor the config and render modules.


def _inert(text: str) -> str:
    from .render import safe_text

    return safe_text(text)


class CliError(typer.TyperException):
    """An :class:`AgentCliError` on its way out: one line on stderr, its exit status."""

    def __init__(self, error: AgentCliError):
        super().__init__(str(error))
        self.exit_code = int(error.exit_status)

    def show(self, file: Any = None) -> None:
        # Messages can carry text from a server or the database: made inert.
        typer.echo(f"agentcli: error: {_inert(self.message)}", file=file or sys.stderr)


def _debug(ctx: typer.Context) -> bool:
    obj = ctx.find_root().obj
    return bool(os.environ.get("AGENTCLI_DEBUG")) or bool(getattr(obj, "traceback", False))


class AgentGroup(TyperGroup):
    """The root group: commands loaded on use; expected failures as one-line errors."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.commands = LazyCommands(dict(self.commands))

    def list_commands(self, ctx: typer.Context) -> list[str]:
        return list(self.commands)

    def format_commands(self, ctx: typer.Context, formatter: Any) -> None:
        """The command list from the table in commands/__init__.py: nothing imported."""
        rows = [(name, self.commands.help(name)) for name in self.commands]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        # Standalone mode (``app()``, typer's CliRunner) reports errors the way
        # ``main()`` below does: one line and the error's exit status.
        try:
            return super().main(*args, standalone_mode=standalone_mode, **kwargs)
        except CliError as exc:
            if not standalone_mode:
                raise
            exc.show()
            sys.exit(exc.exit_code)

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AgentCliError as exc:
            if _debug(ctx):
                raise
            raise CliError(exc) from None
        finally:
            close = getattr(ctx.obj, "close", None)
            if close is not None:
                close()


app = typer.Typer(
    name="agentcli",
    cls=AgentGroup,
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
        typer.Option("--db", help="Database file [env: AGENTCLI_DB]", show_default=False),
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


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    try:
        code = app(args=argv, prog_name="agentcli", standalone_mode=False)
    except typer.Exit as exc:
        code = exc.exit_code
    except typer.TyperException as exc:
        exc.show()
        code = exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        sys.stderr.write("\n")
        code = ExitStatus.INTERRUPTED
    except AgentCliError as exc:  # raised outside a command (e.g. under --traceback)
        if os.environ.get("AGENTCLI_DEBUG") or "--traceback" in sys.argv:
            raise
        CliError(exc).show()
        code = exc.exit_status
    except BrokenPipeError:
        # The reader went away (e.g. `| head`); nothing more to say.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = ExitStatus.ERROR
    except Exception as exc:
        if os.environ.get("AGENTCLI_DEBUG") or "--traceback" in sys.argv:
            raise
        first = _inert(str(exc).splitlines()[0]) if str(exc) else ""
        sys.stderr.write(
            f"agentcli: error: unexpected {type(exc).__name__}: {first} "
            "(run again with --traceback for details)\n"
        )
        code = ExitStatus.ERROR
    sys.exit(int(code) if isinstance(code, int) else 0)
