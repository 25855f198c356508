"""What one invocation of the ``agentcli`` command carries from option to command.

The environment (streams, terminal facts), the global options, the settings
and the store, opened on first use and closed when the command ends. Light
on purpose: ``agentcli --help`` creates it and loads neither the
configuration, the store nor the terminal renderer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import Settings
    from .core.protocols import Store
    from .render import Env


class AppState:
    """Per-invocation state: global options, the environment, the open store."""

    def __init__(self, env: Env | None = None):
        self._env = env
        self.db_override: str | None = None  # --db
        self.traceback = False  # --traceback
        self._db: Store | None = None
        self._settings: Settings | None = None

    @property
    def env(self) -> Env:
        if self._env is None:
            from .render import Env

            self._env = Env()
        return self._env

    def db(self, *, create: bool = True) -> Store:
        """The store, opened on first use. ``create=False`` (a command that only
        reads): a database file that does not exist is not created."""
        if self._db is None:
            from .config import check_data_dir
            from .runtime import open_store

            check_data_dir()
            self._db = open_store(self.db_override, create=create)
        return self._db

    def settings(self, **flags: Any) -> Settings:
        """Settings with these command-line values on top (``None`` = not given)."""
        from .config import load_settings

        if flags or self._settings is None:
            resolved = load_settings(**flags)
            if not flags:
                self._settings = resolved
            return resolved
        return self._settings

    def user(self, given: str | None) -> str:
        """``--user`` as given (never blank), else the configured default user."""
        if given is not None:
            if not given.strip():
                from .core.errors import UsageError

                raise UsageError("the user id must not be empty")
            return given
        return self.settings().default_user

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
