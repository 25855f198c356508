"""What only the PostgreSQL store has: its schema and migrations, its connection
errors, its search. (Everything both stores share runs on both through ``db``.)"""

import json
import subprocess
import sys
import time
import uuid

import psycopg
import pytest

from agentcli.adapters.postgres import SCHEMA_VERSION, PostgresDb
from agentcli.core.dburl import parse_postgres_url
from agentcli.core.errors import SchemaTooNewError, StoreError
from agentcli.runtime import open_store


@pytest.fixture
def schema(pg_server):
    """A schema name no test used before, dropped afterwards."""
    name = f"s_{uuid.uuid4().hex[:10]}"
    yield name
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


def tables(url, schema):
    with psycopg.connect(url) as conn:
        return sorted(
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,)
            )
        )


def test_migrations_build_the_expected_schema(pg_server, schema):
    with PostgresDb(db_url=pg_server, db_schema=schema) as db:
        assert db.schema_version() == SCHEMA_VERSION
        rows = db.execute("SELECT version, name FROM schema_migrations").fetchall()
        cols = [
            r[0]
            for r in db.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
                "AND table_name = 'runs' ORDER BY ordinal_position",
                (schema,),
            )
        ]
    assert rows == [(1, "initial"), (2, "run_attachments"), (3, "session_settings")]
    assert tables(pg_server, schema) == [
        "memories",
        "memory_counts",
        "memory_events",
        "messages",
        "model_calls",
        "runs",
        "schema_migrations",
        "sessions",
    ]
    assert cols == [
        "id",
        "run_id",
        "session_pk",
        "status",
        "model",
        "input_tokens",
        "output_tokens",
        "error",
        "owner",
        "started_at",
        "finished_at",
        "duration_ms",
        "attachments",
        "settings",
    ]


def test_reopening_applies_nothing_twice(pg_server, schema):
    PostgresDb(db_url=pg_server, db_schema=schema).close()
    with PostgresDb(db_url=pg_server, db_schema=schema) as db:
        assert db.execute("SELECT count(*) FROM schema_migrations").fetchone() == (SCHEMA_VERSION,)


OPEN_AT_ONCE = """
import sys, time
from agentcli.adapters.postgres import PostgresDb
url, schema, start = sys.argv[1], sys.argv[2], float(sys.argv[3])
time.sleep(max(0.0, start - time.time()))
PostgresDb(db_url=url, db_schema=schema).close()
"""


@pytest.mark.slow
def test_ten_processes_starting_at_once_on_a_new_database_migrate_it_once(pg_server, schema):
    start = time.time() + 3.0  # every process has imported psycopg by then
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN_AT_ONCE, pg_server, schema, str(start)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(10)
    ]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 10, errors
    with psycopg.connect(pg_server) as conn:
        logged = conn.execute(f"SELECT version, name FROM {schema}.schema_migrations").fetchall()
    assert logged == [(1, "initial"), (2, "run_attachments"), (3, "session_settings")]


def test_a_newer_schema_is_refused_and_left_untouched(pg_server, schema):
    PostgresDb(db_url=pg_server, db_schema=schema).close()
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f"INSERT INTO {schema}.schema_migrations VALUES (99, 'future', now())")
        conn.execute(f"DROP TABLE {schema}.model_calls")  # what a future version might do
        before = conn.execute(f"SELECT * FROM {schema}.schema_migrations ORDER BY 1").fetchall()
    with pytest.raises(SchemaTooNewError, match="schema version 99, newer than this agentcli"):
        PostgresDb(db_url=pg_server, db_schema=schema)
    with psycopg.connect(pg_server) as conn:
        after = conn.execute(f"SELECT * FROM {schema}.schema_migrations ORDER BY 1").fetchall()
    assert after == before
    assert "model_calls" not in tables(pg_server, schema)


def test_a_schema_holding_other_tables_is_refused(pg_server, schema):
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"CREATE TABLE {schema}.invoices (id int)")
    with pytest.raises(StoreError, match="is not an agentcli schema"):
        PostgresDb(db_url=pg_server, db_schema=schema)
    assert tables(pg_server, schema) == ["invoices"]


def test_an_invalid_schema_name_is_refused(pg_server):
    with pytest.raises(StoreError, match="invalid schema name"):
        PostgresDb(db_url=pg_server, db_schema='x"; DROP TABLE y; --')


# -- connection faults: one line, the server named, never the password --------------
def with_password(url, password):
    target = parse_postgres_url(url)
    return url.replace(f":{target.password}@", f":{password}@", 1)


def test_an_unreachable_server_is_one_line_naming_host_and_port():
    from pg_server import free_port

    port = free_port()
    started = time.monotonic()
    with pytest.raises(StoreError) as caught:
        open_store(f"postgresql://ai:hunter2-secret@127.0.0.1:{port}/ai")
    message = str(caught.value)
    assert message.startswith(f"cannot connect to PostgreSQL at 127.0.0.1:{port}: ")
    assert "refused" in message.lower()
    assert "hunter2" not in message and "\n" not in message
    assert time.monotonic() - started < 10


def test_a_wrong_password_is_one_line_without_it(pg_server):
    url = with_password(pg_server, "hunter2-wrong")
    with pytest.raises(StoreError) as caught:
        PostgresDb(db_url=url)
    message = str(caught.value)
    assert "refused user 'agentcli': password authentication failed" in message
    assert "hunter2" not in message and "\n" not in message


def test_the_password_is_in_no_traceback(run_cli, pg_server):
    url = with_password(pg_server, "hunter2-wrong")
    done = run_cli("--traceback", "--db", url, "memories", "list")
    err = done.stderr.decode()
    assert done.returncode == 1 and "Traceback" in err and "StoreError" in err
    assert "hunter2" not in err


def test_a_missing_database_is_one_line(pg_server):
    url = pg_server.rsplit("/", 1)[0] + "/no_such_db"
    target = parse_postgres_url(url)
    with pytest.raises(StoreError) as caught:
        PostgresDb(db_url=url)
    assert str(caught.value) == (
        f"PostgreSQL at {target.where} has no database 'no_such_db' "
        "(create it, or name another in the URL)"
    )


def test_missing_privileges_are_one_line(pg_server, schema):
    role = f"r_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'weak-pw-Zq'")
        conn.execute(f"REVOKE CREATE ON SCHEMA public FROM {role}")
    try:
        target = parse_postgres_url(pg_server)
        url = pg_server.replace(f"{target.user}:{target.password}@", f"{role}:weak-pw-Zq@", 1)
        with pytest.raises(StoreError) as caught:
            PostgresDb(db_url=url, db_schema=schema)
        message = str(caught.value)
        assert f"user '{role}' lacks a privilege the store needs (schema '{schema}')" in message
        assert "permission denied" in message and "weak-pw-Zq" not in message
    finally:
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute(f"DROP ROLE {role}")


def test_an_unreachable_server_through_the_cli_exits_1(run_cli):
    from pg_server import free_port

    done = run_cli(
        "--db", f"postgresql://ai:hunter2-secret@127.0.0.1:{free_port()}/ai", "memories", "list"
    )
    err = done.stderr.decode()
    assert done.returncode == 1 and done.stdout == b""
    assert err.startswith("agentcli: error: cannot connect to PostgreSQL at 127.0.0.1:")
    assert err.count("\n") == 1 and "hunter2" not in err


# -- what the records look like ------------------------------------------------------
def test_times_read_back_as_the_records_iso_strings(db_pg):
    session, run = db_pg.begin_run("u", "s", "hi", "m", "o")
    assert len(run.started_at) == 24 and run.started_at.endswith("Z")
    assert db_pg.get_run(run.pk).started_at == run.started_at
    when = db_pg.execute("SELECT started_at FROM runs").fetchone()[0]
    assert when == run.started_at


def test_search_stems_and_marks_the_match(db_pg):
    _, run = db_pg.begin_run("sarah", "s", "I spent the weekend painting the fence", "m", "o")
    hits = db_pg.search_messages("paints", "sarah")
    assert [h.snippet for h in hits] == ["I spent the weekend \x01painting\x02 the fence"]
    assert db_pg.search_messages("paints", "bob") == []
    assert db_pg.search_messages("the", "sarah") == []
    assert db_pg.search_messages("'; DROP TABLE x; --", "sarah") == []


def test_a_huge_message_is_stored_whole_and_searchable_by_its_start(db_pg):
    text = "zebra " + "x" * 4_000_000
    _, run = db_pg.begin_run("u", "s", text, "m", "o")
    assert db_pg.session_messages(run.session_pk)[0].content == text
    assert len(db_pg.search_messages("zebra", "u")) == 1


def test_topics_round_trip_as_lists(db_pg):
    memory, _ = db_pg.add_memory("u", "Likes tea.", ["food", "drinks"], actor="user")
    assert db_pg.get_memory("u", memory.id).topics == ["food", "drinks"]
    assert db_pg.list_memories("u", topic="drinks") == [memory]
    assert json.loads(json.dumps(memory.topics)) == ["food", "drinks"]


def test_each_users_memory_count_follows_every_change(db_pg):
    counts = lambda: dict(db_pg.execute("SELECT user_id, memories FROM memory_counts").fetchall())  # noqa: E731
    first, _ = db_pg.add_memory("sarah", "Likes tea.", actor="user")
    db_pg.add_memory("sarah", "Likes tea!", actor="user")  # the same memory: not counted
    db_pg.import_memories("sarah", [{"memory": "A."}, {"memory": "B."}], actor="user")
    db_pg.add_memory("bob", "Plays chess.", actor="user")
    assert counts() == {"sarah": 3, "bob": 1}
    db_pg.delete_memory("sarah", first.id, actor="user")
    db_pg.clear_memories("bob", actor="user")
    assert counts() == {"sarah": 2, "bob": 0}
    assert db_pg.count_memories("sarah") == 2


def test_a_database_of_the_version_before_attachments_is_upgraded_in_place(
    pg_server, schema, monkeypatch
):
    from agentcli.adapters.postgres import db as pg_db
    from agentcli.adapters.postgres.schema import MIGRATIONS

    before = MIGRATIONS[: [name for name, _ in MIGRATIONS].index("run_attachments")]
    with monkeypatch.context() as patch:
        patch.setattr(pg_db, "MIGRATIONS", before)
        patch.setattr(pg_db, "SCHEMA_VERSION", len(before))
        with PostgresDb(db_url=pg_server, db_schema=schema) as old:
            old.execute(
                "INSERT INTO sessions (id, user_id, session_id, created_at, updated_at) "
                "VALUES (1, 'u', 's', now(), now())"
            )
            old.execute(
                "INSERT INTO runs (id, run_id, session_pk, status, model, started_at) "
                "VALUES (1, 'r1', 1, 'completed', 'm', now())"
            )
            old.execute(
                "INSERT INTO messages (run_pk, seq, role, content, created_at) "
                "VALUES (1, 0, 'user', 'old words', now())"
            )
    with PostgresDb(db_url=pg_server, db_schema=schema) as db:
        assert db.schema_version() == len(MIGRATIONS)
        found = [(m.content, m.model, m.attachments) for m in db.session_messages(1)]
    assert found == [("old words", "m", None)]
