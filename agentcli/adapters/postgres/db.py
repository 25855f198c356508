"""The PostgreSQL connection: a pool, the schema and its migrations, transactions, errors.

Connections come from a ``psycopg_pool.ConnectionPool``; a thread holds one
for the length of a transaction (nested transactions join it), other
statements borrow one for a moment. Every connection runs with the store's
schema as its ``search_path`` and UTC as its time zone, and reads
``timestamptz`` back as the ISO 8601 strings the records carry
(``2026-11-21T20:42:00.123Z``), the same as the SQLite store.

Driver errors never leave this package: each becomes a one-line
:class:`StoreError` that names the server (host and port, never the password).
A connection lost mid-way (the server restarted) is retried for a bounded time
by the methods marked :func:`retrying`, whose writes are safe to repeat.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import psycopg
import psycopg_pool
from psycopg import sql
from psycopg.adapt import Loader

from ...core.dburl import PostgresTarget, parse_postgres_url
from ...core.errors import SchemaTooNewError, StoreError
from .schema import MIGRATIONS, SCHEMA_VERSION

DEFAULT_SCHEMA = "agentcli"
CONNECT_TIMEOUT_S = 10
RECONNECT_WAIT_S = 20.0
POOL_SIZE = 10
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
# The pool reports failed reconnections as log warnings; the store reports
# them itself, as one line, so they must not reach stderr a second time.
logging.getLogger("psycopg").addHandler(logging.NullHandler())

T = TypeVar("T")


def utcnow() -> str:
    """The current time as ISO 8601 UTC with milliseconds, e.g. 2026-11-21T20:42:00.123Z."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class IsoTimeLoader(Loader):
    """``timestamptz`` (text, ISO DateStyle, UTC) -> ``2026-11-21T20:42:00.123Z``."""

    def load(self, data: Any) -> str:
        text = bytes(data).decode("ascii")  # e.g. "2026-11-21 20:42:00.12+00"
        head, frac = text[:19], ""
        if len(text) > 19 and text[19] == ".":
            end = 20
            while end < len(text) and text[end].isdigit():
                end += 1
            frac = text[20:end]
        return f"{head[:10]}T{head[11:19]}.{(frac + '000')[:3]}Z"


class ConnectionLost(StoreError):
    """The connection to the server failed; the operation may be tried again."""


class Rows:
    """The rows of one statement, already fetched (``fetchone``, ``fetchall``, iteration)."""

    def __init__(self, rows: list[tuple[Any, ...]], rowcount: int):
        self._rows = rows
        self._next = 0
        self.rowcount = rowcount

    def fetchone(self) -> tuple[Any, ...] | None:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    def fetchall(self) -> list[tuple[Any, ...]]:
        rest, self._next = self._rows[self._next :], len(self._rows)
        return rest

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.fetchall())


def retrying(method: Callable[..., T]) -> Callable[..., T]:
    """Run ``method`` again when the connection is lost, for up to ``reconnect_wait`` seconds.

    Only for operations that are safe to repeat (reads, and writes whose second
    attempt sees the first one's effect). Inside an outer transaction the
    outer operation retries instead.
    """

    @functools.wraps(method)
    def wrapper(self: Database, *args: Any, **kwargs: Any) -> T:
        if getattr(self._local, "conn", None) is not None:
            return method(self, *args, **kwargs)
        deadline: float | None = None
        delay = 0.05
        while True:
            try:
                return method(self, *args, **kwargs)
            except ConnectionLost as exc:
                now = time.monotonic()
                if deadline is None:
                    deadline = now + self.reconnect_wait
                if now >= deadline:
                    raise ConnectionLost(
                        f"{exc} (no connection for {self.reconnect_wait:g} s; gave up)"
                    ) from None
                time.sleep(min(delay, deadline - now))
                delay = min(delay * 2, 1.0)

    return wrapper


class Database:
    """A PostgreSQL database, as ``PostgresDb(db_url="postgresql://...")``.

    ``db_schema`` is the schema the tables live in (created if missing);
    ``pool_size`` bounds the connections one process opens; ``reconnect_wait``
    bounds how long an operation waits for a lost server to come back.
    """

    def __init__(
        self,
        db_url: str,
        *,
        db_schema: str = DEFAULT_SCHEMA,
        pool_size: int = POOL_SIZE,
        reconnect_wait: float = RECONNECT_WAIT_S,
        connect_timeout: int = CONNECT_TIMEOUT_S,
    ):
        try:
            self.target: PostgresTarget = parse_postgres_url(db_url)
        except ValueError as exc:
            raise StoreError(str(exc)) from None
        if not _IDENTIFIER.match(db_schema):
            raise StoreError(
                f"invalid schema name {db_schema!r}: letters, digits and underscores, "
                "at most 63, not starting with a digit"
            )
        self.schema = db_schema
        self.path = self.target.shown  # what messages and `db info` name
        self.reconnect_wait = reconnect_wait
        self._connect_timeout = connect_timeout
        self._local = threading.local()
        self._configured: weakref.WeakSet[psycopg.Connection] = weakref.WeakSet()
        first = self._connect_first()
        try:
            try:
                self._configure(first)
            except psycopg.Error as exc:
                raise self._error(exc) from None
            self._prepare(first)
        except BaseException:
            first.close()
            raise
        self._pool = self._open_pool(pool_size, first)

    # -- connections -----------------------------------------------------------
    def _connect_first(self) -> psycopg.Connection:
        """The first connection, made here so that a failure says why, at once."""
        try:
            return psycopg.connect(self.target.conninfo, **self._connect_kwargs())
        except psycopg.Error as exc:
            raise self._error(exc, connecting=True) from None

    def _connect_kwargs(self) -> dict[str, Any]:
        return {
            "autocommit": True,
            "connect_timeout": self._connect_timeout,
            "fallback_application_name": "agentcli",
        }

    def _open_pool(self, size: int, first: psycopg.Connection) -> psycopg_pool.ConnectionPool:
        """A pool that starts with ``first`` and opens more connections as threads need them."""
        handover = [first]

        class Connection(psycopg.Connection):
            @classmethod
            def connect(cls, conninfo: str = "", **kwargs: Any) -> Any:
                if handover:
                    return handover.pop()
                return super().connect(conninfo, **kwargs)

        pool: psycopg_pool.ConnectionPool = psycopg_pool.ConnectionPool(
            self.target.conninfo,
            connection_class=Connection,
            kwargs=self._connect_kwargs(),
            min_size=1,
            max_size=max(1, size),
            open=False,
            configure=self._configure,
            name="agentcli",
            timeout=self._connect_timeout,
            reconnect_timeout=max(self.reconnect_wait, 30.0),
        )
        pool.open(wait=True, timeout=self._connect_timeout)
        return pool

    def _configure(self, conn: psycopg.Connection) -> None:
        if conn in self._configured:
            return
        conn.execute(
            sql.SQL(
                "SET search_path TO {}; SET TIME ZONE 'UTC'; SET DateStyle TO ISO; "
                "SET client_min_messages TO warning"
            ).format(sql.Identifier(self.schema))
        )
        conn.adapters.register_loader("timestamptz", IsoTimeLoader)
        self._configured.add(conn)

    @contextmanager
    def _borrow(self) -> Iterator[psycopg.Connection]:
        held = getattr(self._local, "conn", None)
        if held is not None:
            yield held
            return
        try:
            conn = self._pool.getconn(timeout=self._connect_timeout)
        except psycopg_pool.PoolTimeout:
            raise ConnectionLost(
                f"lost the connection to PostgreSQL at {self.target.where}"
            ) from None
        except psycopg_pool.PoolClosed:
            raise StoreError("the database is closed") from None
        try:
            yield conn
        finally:
            self._pool.putconn(conn)

    # -- errors ----------------------------------------------------------------
    def _error(self, exc: BaseException, *, connecting: bool = False) -> StoreError:
        """One line for ``exc``, naming the server and never the password."""
        where = self.target.where
        state = getattr(exc, "sqlstate", None) or ""
        reason = _reason(_first_line(exc))
        user = self.target.user or "(the default user)"
        unknown_role = reason.startswith('role "') and "does not exist" in reason
        if state.startswith("28") or unknown_role or any(s in reason for s in _AUTH_FAILURES):
            message = f"PostgreSQL at {where} refused user {user!r}: {reason}"
        elif state == "3D000" or (connecting and "does not exist" in reason):
            message = (
                f"PostgreSQL at {where} has no database {self.target.dbname!r} "
                "(create it, or name another in the URL)"
            )
        elif state == "42501":
            message = (
                f"PostgreSQL at {where}: user {user!r} lacks a privilege the store needs "
                f"(schema {self.schema!r}): {reason}"
            )
        elif connecting:
            message = f"cannot connect to PostgreSQL at {where}: {reason}"
        elif isinstance(exc, psycopg.OperationalError) and (
            not state or state.startswith(("08", "57P"))
        ):
            return ConnectionLost(
                self._scrub(f"lost the connection to PostgreSQL at {where}: {reason}")
            )
        else:
            message = f"PostgreSQL at {where}: {reason}"
        return StoreError(self._scrub(message))

    def _scrub(self, message: str) -> str:
        password = self.target.password
        if password:
            message = message.replace(password, "***")
        return message

    # -- schema ----------------------------------------------------------------
    def _lock_key(self) -> int:
        digest = hashlib.sha256(f"agentcli-migrate:{self.schema}".encode()).digest()
        return int.from_bytes(digest[:8], "big", signed=True)

    def _prepare(self, conn: psycopg.Connection) -> None:
        """Check the schema version; migrate under an advisory lock if behind."""
        try:
            found = self._found_version(conn)
            if found == SCHEMA_VERSION:
                return
            self._check_not_newer(found)
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._lock_key(),))
                found = self._found_version(conn)  # another process may have migrated
                self._check_not_newer(found)
                if found < SCHEMA_VERSION:
                    self._migrate(conn, found)
        except psycopg.Error as exc:
            raise self._error(exc) from None

    def _found_version(self, conn: psycopg.Connection) -> int:
        """The schema's version; 0 when it has no agentcli tables (refused if it has others)."""
        row = conn.execute(
            "SELECT (SELECT count(*) FROM pg_tables WHERE schemaname = %(s)s), "
            "to_regclass(format('%%I.schema_migrations', %(s)s::text)) IS NOT NULL",
            {"s": self.schema},
        ).fetchone()
        tables, has_log = row if row is not None else (0, False)
        if has_log:
            return self._logged_version(conn)
        if tables:
            raise StoreError(
                f"schema {self.schema!r} of PostgreSQL at {self.target.where} is not an "
                "agentcli schema (it holds other tables); it was not changed. Choose "
                "another with the db_schema setting"
            )
        return 0

    def _logged_version(self, conn: psycopg.Connection) -> int:
        row = conn.execute(
            sql.SQL("SELECT coalesce(max(version), 0) FROM {}.schema_migrations").format(
                sql.Identifier(self.schema)
            )
        ).fetchone()
        return int(row[0]) if row else 0

    def _check_not_newer(self, found: int) -> None:
        if found > SCHEMA_VERSION:
            raise SchemaTooNewError(
                f"schema {self.schema!r} of PostgreSQL at {self.target.where} has schema "
                f"version {found}, newer than this agentcli understands ({SCHEMA_VERSION}); "
                "upgrade agentcli. The database was not changed."
            )

    def _migrate(self, conn: psycopg.Connection, current: int) -> None:
        name = sql.Identifier(self.schema)
        exists = conn.execute(
            "SELECT 1 FROM pg_namespace WHERE nspname = %s", (self.schema,)
        ).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(name))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, "
            "name text NOT NULL, applied_at timestamptz NOT NULL)"
        )
        for version, (title, script) in enumerate(MIGRATIONS, start=1):
            if version <= current:
                continue
            conn.execute(script.encode())
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (%s, %s, %s)",
                (version, title, utcnow()),
            )

    # -- use -------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection]:
        """A write transaction on this thread's connection; nested calls join the outer one."""
        held = getattr(self._local, "conn", None)
        if held is not None:
            yield held
            return
        with self._borrow() as conn:
            self._local.conn = conn
            try:
                with conn.transaction():
                    yield conn
            except psycopg.Error as exc:
                raise self._error(exc) from None
            finally:
                self._local.conn = None

    @contextmanager
    def reading(self) -> Iterator[psycopg.Connection]:
        """Several reads that see one moment of the database (a repeatable-read snapshot)."""
        held = getattr(self._local, "conn", None)
        if held is not None:
            yield held
            return
        with self._borrow() as conn:
            self._local.conn = conn
            try:
                conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                try:
                    yield conn
                finally:
                    if not conn.closed:
                        conn.execute("COMMIT")
            except psycopg.Error as exc:
                raise self._error(exc) from None
            finally:
                self._local.conn = None

    def execute(self, query: str, params: Sequence[Any] | dict[str, Any] | None = None) -> Rows:
        """One statement (``%s`` placeholders); its rows, fetched."""
        with self._borrow() as conn:
            try:
                cur = conn.execute(query, params or None)
                rows = cur.fetchall() if cur.description is not None else []
                return Rows(rows, cur.rowcount)
            except psycopg.Error as exc:
                if getattr(self._local, "conn", None) is conn:
                    raise  # the transaction around it reports (and rolls back)
                raise self._error(exc) from None

    def schema_version(self) -> int:
        with self._borrow() as conn:
            return self._logged_version(conn)

    def close(self) -> None:
        self._pool.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_AUTH_FAILURES = (
    "password authentication failed",
    "no password supplied",
    "no pg_hba.conf entry",
    "authentication failed",
)


def _reason(text: str) -> str:
    """libpq's reason without its preamble ("connection to server at ... failed: FATAL:")."""
    for marker in ("FATAL:", "ERROR:"):
        if marker in text:
            return text.rsplit(marker, 1)[1].strip()
    if " failed: " in text:
        return text.rsplit(" failed: ", 1)[1].strip()
    return text


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


__all__ = ["DEFAULT_SCHEMA", "ConnectionLost", "Database", "Rows", "retrying"]
