"""What every command shares: the state object, common options, opening the database."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

import typer

from ..config import Settings, load_settings
from ..render import Env, safe_text

if TYPE_CHECKING:
    from ..core.protocols import Store

UserOption = Annotated[
    str | None,
    typer.Option(
        "--user", "-u", help="User id [default: the configured default user, else your login name]"
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


@dataclass
class AppState:
    """Per-invocation state: global options, the environment, the open database."""

    db_override: str | None = None
    traceback: bool = False
    env: Env = field(default_factory=Env)
    _db: Store | None = None
    _settings: Settings | None = None

    def db(self) -> Store:
        if self._db is None:
            from ..runtime import open_store

            self._db = open_store(self.db_override)
        return self._db

    def settings(self, **flags: object) -> Settings:
        """Settings with these command-line values on top (``None`` = not given)."""
        if flags or self._settings is None:
            resolved = load_settings(**flags)
            if not flags:
                self._settings = resolved
            return resolved
        return self._settings

    def user(self, given: str | None) -> str:
        if given is not None:
            if not given.strip():
                from ..core.errors import UsageError

                raise UsageError("the user id must not be empty")
            return given
        return self.settings().default_user

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def state(ctx: typer.Context) -> AppState:
    root = ctx.find_root()
    if not isinstance(root.obj, AppState):
        root.obj = AppState()
    return root.obj


def confirm(st: AppState, question: str, yes: bool) -> bool:
    """Ask in a terminal; without one, ``--yes`` is required."""
    if yes:
        return True
    if not st.env.stdin_isatty:
        from ..core.errors import UsageError

        raise UsageError("refusing to proceed without confirmation: pass --yes")
    return typer.confirm(safe_text(question), default=False)
