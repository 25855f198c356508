"""The database connection: opening, pragmas, migrations and transactions."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from ...core.errors import SchemaTooNewError, StoreError
from .schema import MIGRATIONS, SCHEMA_VERSION

BUSY_TIMEOUT_S = 30.0


def utcnow() -> str:
    """The current time as ISO 8601 UTC with milliseconds, e.g. 2026-11-21T20:42:00.123Z."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _describe(exc: sqlite3.Error) -> str:
    return str(exc) or type(exc).__name__


# The SQLite file header: a magic string, and the user_version (our schema
# version) as a big-endian integer at byte 60.
_SQLITE_MAGIC = b"SQLite format 3\x00"
_USER_VERSION_AT = 60


def _header_version(path: Path) -> int | None:
    """The schema version in the file's header, or None when it has no SQLite header."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(100)
    except OSError:
        return None
    if len(head) < 100 or not head.startswith(_SQLITE_MAGIC):
        return None
    return int.from_bytes(head[_USER_VERSION_AT : _USER_VERSION_AT + 4], "big", signed=True)


def _too_new(path: str, found: int) -> SchemaTooNewError:
    return SchemaTooNewError(
        f"database {path} has schema version {found}, newer than this "
        f"agentcli understands ({SCHEMA_VERSION}); upgrade agentcli. "
        "The file was not changed."
    )


class Database:
    """One SQLite connection, shared by the threads of a process under a lock.

    ``path`` may be ``":memory:"`` for a private in-memory database.
    """

    def __init__(self, path: str | os.PathLike[str]):
        self.path = str(path)
        self._lock = threading.RLock()
        self._depth = 0
        self.conn = self._open()

    # -- opening ---------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        memory = self.path == ":memory:"
        if not memory:
            self._prepare_file(Path(self.path))
            # Read the header before SQLite opens the file: opening a WAL
            # database creates -wal/-shm files and may checkpoint into it.
            found = _header_version(Path(self.path))
            if found is not None and found > SCHEMA_VERSION:
                raise _too_new(self.path, found)
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=BUSY_TIMEOUT_S,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open database {self.path}: {_describe(exc)}") from None
        try:
            # One statement, so both values come from the same snapshot.
            found, tables = conn.execute(
                "SELECT (SELECT user_version FROM pragma_user_version), "
                "(SELECT count(*) FROM sqlite_master)"
            ).fetchone()
            if found > SCHEMA_VERSION:
                raise _too_new(self.path, found)
            if found == 0 and tables:
                raise StoreError(
                    f"database {self.path} is not an agentcli database (it holds other "
                    "tables); the file was not changed"
                )
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            conn.execute("PRAGMA foreign_keys = ON")
            if not memory:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
            if found < SCHEMA_VERSION:
                self._migrate(conn)
        except StoreError:
            conn.close()
            raise
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise StoreError(
                f"cannot use database {self.path}: {_describe(exc)} (the file was left as it is)"
            ) from None
        if not memory:
            self._restrict_sidecars(Path(self.path))
        return conn

    @staticmethod
    def _prepare_file(path: Path) -> None:
        parent = path.parent
        try:
            if not parent.exists():
                try:
                    parent.mkdir(parents=True, mode=0o700)
                except FileExistsError:
                    pass  # another process created it a moment ago
                else:
                    os.chmod(parent, 0o700)
            if not path.exists():
                fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
                os.close(fd)
        except OSError as exc:
            raise StoreError(f"cannot create database {path}: {exc.strerror}") from None

    @staticmethod
    def _restrict_sidecars(path: Path) -> None:
        for suffix in ("", "-wal", "-shm"):
            side = Path(str(path) + suffix)
            try:
                if side.exists() and side.stat().st_mode & 0o077:
                    os.chmod(side, 0o600)
            except OSError:
                pass  # not ours to change (e.g. a read-only directory)

    @staticmethod
    def _migrate(conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
            current = conn.execute("PRAGMA user_version").fetchone()[0]
            for version, (name, sql) in enumerate(MIGRATIONS, start=1):
                if version <= current:
                    continue
                for statement in _split_sql(sql):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (version, name, utcnow()),
                )
                conn.execute(f"PRAGMA user_version = {version}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    # -- use ---------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``); nested calls join the outer one."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self.conn
                finally:
                    self._depth -= 1
                return
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreError(f"database {self.path}: {_describe(exc)}") from None
            self._depth = 1
            try:
                yield self.conn
            except BaseException:
                self._depth = 0
                self.conn.execute("ROLLBACK")
                raise
            self._depth = 0
            try:
                self.conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self.conn.execute("ROLLBACK")
                raise StoreError(f"database {self.path}: {_describe(exc)}") from None

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """A consistent read of several statements (a deferred transaction)."""
        with self._lock:
            if self._depth:
                yield self.conn
                return
            self.conn.execute("BEGIN")
            self._depth = 1
            try:
                yield self.conn
            finally:
                self._depth = 0
                self.conn.execute("COMMIT")

    def execute(self, sql: str, params: tuple | dict = ()) -> sqlite3.Cursor:
        with self._lock:
            return self.conn.execute(sql, params)

    def schema_version(self) -> int:
        return self.execute("PRAGMA user_version").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self.conn.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements, keeping trigger bodies whole."""
    statements, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements
