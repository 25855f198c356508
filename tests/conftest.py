from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

from agentcli import Agent, OpenAIChat, SqliteDb

sys.path.insert(0, str(Path(__file__).parent))
from chat_server import ChatServer  # noqa: E402
from scripted_model import ScriptedModel  # noqa: E402

AGENTCLI = str(Path(sys.executable).with_name("agentcli"))
# A PostgreSQL server of your own for the tests (else a throwaway cluster is
# started); read here, before the autouse fixture clears AGENTCLI_* variables.
PG_URL = os.environ.get("AGENTCLI_TEST_PG_URL")
BACKENDS = ["sqlite", "postgres"]
PG_SCHEMA = "agentcli_test"
PG_TABLES = [
    "sessions",
    "runs",
    "messages",
    "model_calls",
    "memories",
    "memory_events",
    "memory_counts",
]


def end_with_ctrl_d(child, tries: int = 15) -> None:
    """Press Ctrl-D in a spawned REPL until it ends.

    A Ctrl-D that arrives while the terminal is between two prompts (in cooked
    mode, on a loaded machine) is taken by the line discipline and never
    reaches the REPL, so it is sent again until the process ends.
    """
    import pexpect

    for _ in range(tries):
        child.send("\x04")
        if child.expect([pexpect.EOF, pexpect.TIMEOUT], timeout=2) == 0:
            return
    raise AssertionError("the REPL did not end on Ctrl-D")


def pytest_generate_tests(metafunc):
    """Every test using ``db``, ``store_target`` or ``fresh_store`` runs on both backends,
    except one marked ``sqlite_only`` (whose reason says why)."""
    for name in ("db", "store_target", "fresh_store"):
        if name in metafunc.fixturenames:
            only = metafunc.definition.get_closest_marker("sqlite_only")
            metafunc.parametrize(name, ["sqlite"] if only else BACKENDS, indirect=True)


@pytest.fixture(autouse=True)
def agentcli_home(tmp_path, monkeypatch):
    """Every test gets its own data directory and no endpoint settings from outside."""
    home = tmp_path / "home"
    monkeypatch.setenv("AGENTCLI_HOME", str(home))
    for name in list(os.environ):
        if name.startswith(("AGENTCLI_", "OPENAI_")) and name != "AGENTCLI_HOME":
            monkeypatch.delenv(name)
    monkeypatch.setenv("AGENTCLI_USER", "tester")
    monkeypatch.delenv("NO_COLOR", raising=False)
    return home


@pytest.fixture
def server(monkeypatch):
    with ChatServer() as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.url)
        yield srv


@pytest.fixture(scope="session")
def pg_server():
    """The PostgreSQL database the tests use: ``AGENTCLI_TEST_PG_URL``, else one on a
    throwaway cluster started here (initdb + pg_ctl) and removed at the end. The
    tests keep to their own schema, ``agentcli_test``."""
    if PG_URL:
        yield PG_URL
        return
    from pg_server import Cluster, bindir

    if bindir() is None:
        pytest.skip("PostgreSQL is not installed and AGENTCLI_TEST_PG_URL is not set")
    with Cluster() as cluster:
        cluster.psql("CREATE DATABASE agentcli_tests")
        yield cluster.url("agentcli_tests")


@pytest.fixture(scope="session")
def pg_admin(pg_server):
    """A connection to the tests' database for emptying the schema between tests."""
    import psycopg

    from agentcli.adapters.postgres import PostgresDb

    PostgresDb(db_url=pg_server, db_schema=PG_SCHEMA).close()  # migrated once
    with psycopg.connect(pg_server, autocommit=True) as conn:
        yield conn
        conn.execute(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE")


@pytest.fixture
def scripted():
    """The in-process scripted model: chats echoed, the manager changes nothing,
    folds list the user messages (see tests/scripted_model.py)."""
    return ScriptedModel()


@pytest.fixture(scope="session")
def forks():
    """Start agentcli processes forked from one that has imported it (tests/forkserver.py)."""
    from forkserver import ForkServer

    with ForkServer() as server:
        yield server


@pytest.fixture
def pg_url(pg_server, pg_admin, monkeypatch):
    """A PostgreSQL URL whose test schema is empty, ids starting at 1; processes started
    by the test use that schema too (``AGENTCLI_DB_SCHEMA``)."""
    empty(pg_admin)
    monkeypatch.setenv("AGENTCLI_DB_SCHEMA", PG_SCHEMA)
    return pg_server


def empty(admin) -> None:
    """Every table of the test schema emptied, its ids starting at 1 again."""
    admin.execute(
        f"TRUNCATE {', '.join(f'{PG_SCHEMA}.{t}' for t in PG_TABLES)} RESTART IDENTITY CASCADE"
    )


@pytest.fixture
def store_target(request, tmp_path):
    """A database target for processes to share: a SQLite file, or a PostgreSQL URL."""
    if request.param == "sqlite":
        return str(tmp_path / "shared.db")
    return request.getfixturevalue("pg_url")


@pytest.fixture
def db(request):
    """The store under test: SQLite in memory, or PostgreSQL in a fresh database."""
    if getattr(request, "param", "sqlite") == "sqlite":
        store = SqliteDb(":memory:")
    else:
        from agentcli.adapters.postgres import PostgresDb

        store = PostgresDb(db_url=request.getfixturevalue("pg_url"), db_schema=PG_SCHEMA)
    yield store
    store.close()


@pytest.fixture
def db_pg(pg_url):
    """A PostgreSQL store, for tests of what only PostgreSQL has."""
    from agentcli.adapters.postgres import PostgresDb

    store = PostgresDb(db_url=pg_url, db_schema=PG_SCHEMA)
    yield store
    store.close()


@pytest.fixture
def fresh_store(request):
    """A function returning a new, empty store each time it is called (one backend)."""
    if request.param == "sqlite":
        return lambda: SqliteDb(":memory:")
    from agentcli.adapters.postgres import PostgresDb

    url, admin = request.getfixturevalue("pg_url"), request.getfixturevalue("pg_admin")

    def make():
        empty(admin)
        return PostgresDb(db_url=url, db_schema=PG_SCHEMA)

    return make


@pytest.fixture
def sqlite_db():
    """A SQLite store, for tests of what only SQLite has (their names say what)."""
    store = SqliteDb(":memory:")
    yield store
    store.close()


@pytest.fixture
def model(server):
    return OpenAIChat("test-model", base_url=server.url, retry_delay=0.01, timeout=10)


@pytest.fixture
def agent(model, db):
    return Agent(model=model, db=db)


@pytest.fixture
def run_cli(agentcli_home):
    """Run the installed ``agentcli`` console script as a subprocess."""

    def run(
        *args: str, input: str | bytes | None = None, env: dict | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess:
        full_env = dict(os.environ)
        full_env.update(env or {})
        return subprocess.run(
            [AGENTCLI, *args],
            input=input.encode() if isinstance(input, str) else (input or b""),
            capture_output=True,
            env=full_env,
            timeout=timeout,
        )

    return run


class Outcome(NamedTuple):
    """What one in-process ``agentcli`` run did."""

    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@pytest.fixture
def cli(agentcli_home, monkeypatch):
    """Run ``agentcli`` in this process: ``main(args)`` with its own stdin, stdout and stderr.

    The standard streams are replaced for the run (Click's help and usage
    messages write to them), so commands see pipes, as in a script.
    """
    from agentcli.cli import main

    def invoke(
        *args: str, input: str | bytes | None = None, env: dict[str, str] | None = None
    ) -> Outcome:
        data = input.encode() if isinstance(input, str) else (input or b"")
        stdout, stderr = io.StringIO(), io.StringIO()
        with monkeypatch.context() as patch:
            for name, value in (env or {}).items():
                patch.setenv(name, value)
            patch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))
            patch.setattr(sys, "stdout", stdout)
            patch.setattr(sys, "stderr", stderr)
            status = main(list(args))
        return Outcome(status, stdout.getvalue(), stderr.getvalue())

    return invoke
