"""The database handle: opening, pragmas, migrations, one connection per thread,
transactions, a tracer, and the line where driver errors become ``StoreError``.

Each thread that uses a :class:`Database` gets its own connection, opened on
first use with the same pragmas and closed when the thread ends (or by
:meth:`Database.close`); migrations run once, when the handle is opened.
``":memory:"`` is a private in-memory database shared by the threads of one
handle: SQLite's ``memdb`` VFS under a unique name, which locks like a file
(busy waits included) and lives while the handle is open.

Every way in (:meth:`~Database.reading`, :meth:`~Database.transaction`,
:meth:`~Database.connected`) converts ``sqlite3.Error`` into
:class:`~agentcli.core.errors.StoreError` naming the file and the cause, so no
caller ever sees a driver exception.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ...core.errors import SchemaTooNewError, StoreError
from .schema import MIGRATIONS, SCHEMA_VERSION

BUSY_TIMEOUT_S = 30.0

Params = Sequence[Any] | Mapping[str, Any]
# Receives every statement with its parameters, before it runs.
Tracer = Callable[[str, Params], None]


def utcnow() -> str:
    """The current time as ISO 8601 UTC with milliseconds, e.g. 2026-11-21T20:42:00.123Z."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def fts_query(text: str, *, any_word: bool = True) -> str:
    """Turn free text into an FTS5 query of quoted words (never FTS5 syntax from input).

    With ``any_word`` a row matching any word matches; otherwise it must match all.
    """
    words = "".join(c if c.isalnum() else " " for c in text).split()
    return (" OR " if any_word else " ").join(f'"{w}"' for w in words) or '""'


# SQLite's primary result codes whose real cause may be the file system.
_SQLITE_IOERR, _SQLITE_FULL, _SQLITE_CANTOPEN, _SQLITE_READONLY = 10, 13, 14, 8
# Less room than this on the device: a write that failed there failed for want of space.
_LOW_SPACE = 1 << 20


def _describe(exc: sqlite3.Error, path: str | None = None) -> str:
    """SQLite's reason, with the file system's when that is the real cause.

    SQLite says "disk I/O error" when it cannot grow its shared-memory file
    on a full disk, and "database or disk is full" for either; the device
    holding ``path`` tells which it is.
    """
    text = str(exc) or type(exc).__name__
    code = getattr(exc, "sqlite_errorcode", None)
    if path is None or code is None:
        return text
    primary = code & 0xFF
    if primary not in (_SQLITE_IOERR, _SQLITE_FULL, _SQLITE_CANTOPEN, _SQLITE_READONLY):
        return text
    try:
        device = os.statvfs(Path(path).parent)
    except OSError:
        return text
    if device.f_flag & os.ST_RDONLY:
        return f"{text}: the file system is read-only"
    free = device.f_bfree if os.geteuid() == 0 else device.f_bavail
    if primary != _SQLITE_READONLY and free * device.f_frsize < _LOW_SPACE:
        return f"{text}: no space left on the device"
    return text


def _header_version(path: Path) -> int | None:
    """The schema version in the file's header, or None when it is not an SQLite file.

    Read through SQLite as an immutable file: no locks, no -wal/-shm files, and
    no plain open() whose close() would drop the locks (POSIX) that other
    connections of this process hold on the file.
    """
    uri = f"file:{quote(str(path.resolve()))}?mode=ro&immutable=1"
    try:
        conn = sqlite3.connect(uri, uri=True)
        try:
            version: int = conn.execute("PRAGMA user_version").fetchone()[0]
            return version
        finally:
            conn.close()
    except sqlite3.Error:
        return None


def _too_new(path: str, found: int) -> SchemaTooNewError:
    return SchemaTooNewError(
        f"database {path} has schema version {found}, newer than this "
        f"agentcli understands ({SCHEMA_VERSION}); upgrade agentcli. "
        "The file was not changed."
    )


class _Connection(sqlite3.Connection):
    """A connection that shows each statement to the handle's tracers before running it."""

    tracers: list[Tracer]

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        if self.tracers:
            for tracer in tuple(self.tracers):
                tracer(sql, parameters)
        return super().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> sqlite3.Cursor:
        if self.tracers:
            parameters = list(parameters)
            for tracer in tuple(self.tracers):
                for one in parameters:
                    tracer(sql, one)
        return super().executemany(sql, parameters)


class _Slot:
    """One thread's connection and how deep in a transaction it is.

    Held by the thread alone (thread-local storage): when the thread ends, the
    slot goes and closes its connection, so short-lived threads (the agent's
    follow-up work) leave no connection behind.
    """

    __slots__ = ("conn", "depth", "keep")

    def __init__(self, conn: _Connection, *, keep: bool = False):
        self.conn = conn
        self.depth = 0
        self.keep = keep  # the handle's first connection: closed by close() only

    def __del__(self) -> None:
        if not self.keep:
            try:
                self.conn.close()
            except Exception:  # noqa: BLE001 - a thread's exit or the interpreter's end
                pass


class Rows:
    """The rows of one statement, read whole: ``fetchone``, ``fetchall``, iteration."""

    def __init__(self, rows: list[Any], rowcount: int, lastrowid: int | None):
        self._rows = rows
        self._next = 0
        self.rowcount = rowcount
        self.lastrowid = lastrowid

    def fetchone(self) -> Any:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    def fetchall(self) -> list[Any]:
        rest, self._next = self._rows[self._next :], len(self._rows)
        return rest

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


class Database:
    """An SQLite database: ``Database("chat.db")`` or ``Database(":memory:")``.

    ``tracer``, if given, is called with every statement and its parameters
    (as is each function added with :meth:`tracer`); ``timeout`` is how long
    a statement waits for another connection's lock, in seconds. Without
    ``create``, a file that does not exist is not created: it reads as an empty
    database. A file that cannot be written, or whose directory cannot, is
    opened read-only (``read_only`` says why) and leaves no side files.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        tracer: Tracer | None = None,
        timeout: float = BUSY_TIMEOUT_S,
        create: bool = True,
    ):
        self.path = str(path)
        if "://" in self.path:
            # Never a file named after a URL (a PostgreSQL URL carries a password).
            from ...core.dburl import shown_target

            raise StoreError(f"{shown_target(self.path)} is a URL, not a SQLite file name")
        self._timeout = timeout
        self._tracers: list[Tracer] = [tracer] if tracer else []
        # Without ``create``, a file that does not exist is read as an empty
        # database, held in memory: nothing is created on disk.
        self._memory = self.path == ":memory:" or (not create and not Path(self.path).exists())
        # A unique name: another handle's in-memory database is another database.
        self._target = f"file:/agentcli-{uuid.uuid4().hex}?vfs=memdb" if self._memory else self.path
        self._uri = self._memory
        # Why the file is opened read-only (it or its directory is not
        # writable), or None when it is opened for writing.
        self.read_only: str | None = None
        self._local = threading.local()
        self._all: weakref.WeakSet[_Connection] = weakref.WeakSet()
        self._closed = False
        # The first connection stays open with the handle (an in-memory
        # database lives while one of its connections does).
        self._first = self._open()
        self._local.slot = _Slot(self._first, keep=True)

    # -- opening ---------------------------------------------------------
    def _open(self) -> _Connection:
        """The first connection: checks the file, sets WAL, migrates."""
        if not self._memory:
            self._prepare_file(Path(self.path))
            # Read the header before opening the file for use: opening a WAL
            # database creates -wal/-shm files and may checkpoint into it.
            found = _header_version(Path(self.path))
            if found is not None and found > SCHEMA_VERSION:
                raise _too_new(self.path, found)
            self._open_read_only_if_needed(Path(self.path))
        conn = self._connect(configure=False)
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
            self._configure(conn)
            if self.read_only is not None:
                if found < SCHEMA_VERSION:
                    raise StoreError(
                        f"database {self.path} is read-only ({self.read_only}) and needs an "
                        f"upgrade from schema version {found} to {SCHEMA_VERSION}; make it "
                        "writable and run agentcli again (the file was left as it is)"
                    )
            else:
                if not self._memory:
                    conn.execute("PRAGMA journal_mode = WAL")  # kept by the file from now on
                if found < SCHEMA_VERSION:
                    self._migrate(conn)
        except StoreError:
            conn.close()
            raise
        except sqlite3.Error as exc:
            conn.close()
            raise StoreError(
                f"cannot use database {self.path}: {_describe(exc, self.path)} "
                "(the file was left as it is)"
            ) from exc
        if not self._memory and self.read_only is None:
            self._restrict_sidecars(Path(self.path))
        return conn

    def _open_read_only_if_needed(self, path: Path) -> None:
        """Open the file read-only when it, or its directory, cannot be written.

        SQLite would otherwise create ``-wal``/``-shm`` files that outlive the
        connection with the database's own read-only mode (and then stop every
        write once the file is writable again), or fail to read at all in a
        read-only directory. Without a write-ahead log to read, the file is
        opened as immutable: no side files, no locks. With one (another
        process is writing), SQLite reads it through its existing files.
        """
        if not os.access(path, os.W_OK):
            self.read_only = "the file is not writable"
        elif not os.access(path.parent, os.W_OK):
            self.read_only = "its directory is not writable"
        else:
            self._repair_sidecars(path)
            return
        try:
            log_size = os.stat(f"{path}-wal").st_size
        except OSError:
            log_size = 0
        options = "mode=ro" if log_size else "mode=ro&immutable=1"
        self._target = f"file:{quote(str(path.resolve()))}?{options}"
        self._uri = True

    def _connect(self, *, configure: bool = True) -> _Connection:
        try:
            conn = sqlite3.connect(
                self._target,
                timeout=self._timeout,
                isolation_level=None,
                check_same_thread=False,  # so that close() can close every thread's
                uri=self._uri,
                factory=_Connection,
            )
        except sqlite3.Error as exc:
            raise StoreError(
                f"cannot open database {self.path}: {_describe(exc, self.path)}"
            ) from exc
        conn.tracers = self._tracers
        if configure:
            try:
                self._configure(conn)
            except sqlite3.Error as exc:
                conn.close()
                raise StoreError(
                    f"cannot open database {self.path}: {_describe(exc, self.path)}"
                ) from exc
        self._all.add(conn)
        return conn

    def _configure(self, conn: sqlite3.Connection) -> None:
        """The pragmas every connection gets (its busy timeout is set by connect())."""
        conn.execute("PRAGMA foreign_keys = ON")
        if not self._memory:
            conn.execute("PRAGMA synchronous = NORMAL")

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
    def _repair_sidecars(path: Path) -> None:
        """Make our own ``-wal``/``-shm`` files writable again when the database is.

        A read-only open by an older agentcli (or by sqlite3) of a read-only
        database leaves them with its mode; once the file is writable again,
        every write would fail on them ("attempt to write a readonly database").
        """
        for suffix in ("-wal", "-shm"):
            side = Path(str(path) + suffix)
            try:
                found = side.lstat()
                if (
                    stat.S_ISREG(found.st_mode)
                    and found.st_uid == os.geteuid()
                    and not found.st_mode & 0o200
                ):
                    os.chmod(side, 0o600)
            except OSError:
                pass  # none, or not ours to change

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
            _rollback(conn)
            raise

    # -- use ---------------------------------------------------------------
    def _error(self, exc: sqlite3.Error) -> StoreError:
        if self._memory:
            return StoreError(f"database (in memory): {_describe(exc)}")
        text = _describe(exc, self.path)
        if self.read_only is not None:
            code = getattr(exc, "sqlite_errorcode", 0) or 0
            if code & 0xFF == _SQLITE_READONLY:
                text = f"{text} ({self.read_only}; nothing was changed)"
        return StoreError(f"database {self.path}: {text}")

    @contextmanager
    def _slot(self) -> Iterator[_Slot]:
        """This thread's slot (its connection opened on first use); driver errors
        raised within become ``StoreError``. Every way in goes through here."""
        if self._closed:
            raise StoreError(f"database {self.path} is closed")
        try:
            slot: _Slot | None = getattr(self._local, "slot", None)
            if slot is None:
                slot = self._local.slot = _Slot(self._connect())
            yield slot
        except sqlite3.Error as exc:
            raise self._error(exc) from exc

    @contextmanager
    def connected(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection, as is (each statement commits on its own unless
        inside :meth:`reading` or :meth:`transaction`); driver errors become ``StoreError``."""
        with self._slot() as slot:
            yield slot.conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``) of this thread; nested calls join
        the outer one. Committed at the end, rolled back on any exception."""
        with self._slot() as local:
            conn = local.conn
            if local.depth:
                local.depth += 1
                try:
                    yield conn
                finally:
                    local.depth -= 1
                return
            conn.execute("BEGIN IMMEDIATE")
            local.depth = 1
            try:
                yield conn
            except BaseException:
                local.depth = 0
                _rollback(conn)
                raise
            local.depth = 0
            try:
                conn.execute("COMMIT")
            except sqlite3.Error:
                _rollback(conn)
                raise

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """Several reads of this thread that see one moment (a deferred transaction)."""
        with self._slot() as local:
            conn = local.conn
            if local.depth:
                yield conn
                return
            conn.execute("BEGIN")
            local.depth = 1
            try:
                yield conn
            except BaseException:
                local.depth = 0
                _rollback(conn)
                raise
            local.depth = 0
            conn.execute("COMMIT")

    @contextmanager
    def tracer(self, tracer: Tracer) -> Iterator[None]:
        """Call ``tracer(sql, params)`` for every statement, in any thread, within the block."""
        self._tracers.append(tracer)
        try:
            yield
        finally:
            self._tracers.remove(tracer)

    def execute(self, sql: str, params: Params = ()) -> Rows:
        """Run one statement on this thread's connection and read its rows whole."""
        with self.connected() as conn:
            cursor = conn.execute(sql, params)
            return Rows(cursor.fetchall(), cursor.rowcount, cursor.lastrowid)

    def schema_version(self) -> int:
        version: int = self.execute("PRAGMA user_version").fetchone()[0]
        return version

    def close(self) -> None:
        """Close every thread's connection; the handle cannot be used after."""
        self._closed = True
        failed: sqlite3.Error | None = None
        for conn in list(self._all):
            try:
                conn.close()
            except sqlite3.Error as exc:  # close the others all the same
                failed = failed or exc
        if failed is not None:
            raise self._error(failed) from failed

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _rollback(conn: sqlite3.Connection) -> None:
    """Roll back what is left of a failed transaction, never hiding why it failed.

    SQLite may already have rolled it back itself (a full disk, an I/O error),
    and a failing ROLLBACK says nothing the first error did not.
    """
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass


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
