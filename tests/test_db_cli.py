"""``agentcli db copy`` and ``agentcli db info``, between SQLite files and PostgreSQL."""

import json
import sqlite3

import psycopg
import pytest

from agentcli import SqliteDb
from agentcli.adapters.postgres.schema import SCHEMA_VERSION as PG_SCHEMA_VERSION
from agentcli.adapters.sqlite import SCHEMA_VERSION
from agentcli.core.records import Usage
from agentcli.runtime import open_store

CALL = [{"id": "c1", "type": "function", "function": {"name": "add_memory", "arguments": "{}"}}]


def fill(db) -> None:
    """Every kind of row: runs of each status with tool calls, model calls, a summary,
    memories added, changed, deleted and imported."""
    for user, session in [("sarah", "thread-42"), ("sarah", "other"), ("bob", "thread-42")]:
        for i in range(3):
            _, run = db.begin_run(
                user, session, f"{user} message {i}", "m", "host:1:x", instructions=f"Be {i}."
            )
            db.finish_run(
                run.pk,
                status="completed",
                messages=[
                    {"role": "assistant", "content": None, "tool_calls": CALL},
                    {"role": "tool", "tool_call_id": "c1", "content": "ok"},
                    {"role": "assistant", "content": f"reply {i} ✓"},
                ],
                model="m-1",
                usage=Usage(10 + i, 3),
                duration_ms=5,
                settings={"instructions": f"Be {i}.", "role": None, "options": {"seed": i}},
            )
            db.record_model_call(
                user_id=user,
                session_pk=run.session_pk,
                run_pk=run.pk,
                purpose="memory",
                status="completed",
                model="m",
                usage=Usage(7, 1),
            )
        _, failed = db.begin_run(user, session, "this one failed", "m", "host:1:x", role="r")
        db.finish_run(failed.pk, status="error", error="boom")
        db.set_summary(
            run.session_pk, f"- {user} summary", through_pk=run.pk, expected_through=None
        )
    kept, _ = db.add_memory("sarah", "Sarah likes tea.", ["food"], actor="agent", run_id="r1")
    db.update_memory("sarah", kept.id, memory="Sarah likes green tea.", actor="user")
    gone, _ = db.add_memory("sarah", "Sarah lives in Oslo.", actor="manager")
    db.delete_memory("sarah", gone.id, actor="user")
    db.import_memories("bob", [{"memory": "Bob plays chess.", "topics": ["games"]}], actor="user")


def dump(path) -> dict:
    """Every row of a SQLite database, keyed by ids rather than pks."""
    conn = sqlite3.connect(path)
    q = lambda sql: sorted(conn.execute(sql).fetchall(), key=repr)  # noqa: E731
    out = {
        "sessions": q(
            "SELECT s.user_id, s.session_id, s.name, s.created_at, s.updated_at, s.summary, "
            "r.run_id, s.summary_updated_at, s.instructions, s.role FROM sessions s "
            "LEFT JOIN runs r ON r.id = s.summary_through"
        ),
        "runs": q(
            "SELECT r.run_id, s.user_id, s.session_id, r.status, r.model, r.input_tokens, "
            "r.output_tokens, r.error, r.started_at, r.finished_at, r.duration_ms, r.settings "
            "FROM runs r JOIN sessions s ON s.id = r.session_pk"
        ),
        "messages": q(
            "SELECT r.run_id, m.seq, m.role, m.content, m.tool_calls, m.tool_call_id, "
            "m.created_at FROM messages m JOIN runs r ON r.id = m.run_pk"
        ),
        "model_calls": q(
            "SELECT c.user_id, s.session_id, r.run_id, c.purpose, c.status, c.model, "
            "c.input_tokens, c.output_tokens, c.error, c.created_at, c.duration_ms "
            "FROM model_calls c LEFT JOIN sessions s ON s.id = c.session_pk "
            "LEFT JOIN runs r ON r.id = c.run_pk"
        ),
        "memories": q(
            "SELECT user_id, memory, normalized, topics, created_at, updated_at, "
            "created_session_id, created_run_id, updated_session_id, updated_run_id "
            "FROM memories"
        ),
        # Each memory's history as one row: the events in order, its live text if any.
        "memory_events": q(
            "SELECT e.user_id, group_concat(e.action || '|' || coalesce(e.before, '') || '|' || "
            "coalesce(e.after, '') || '|' || e.actor || '|' || coalesce(e.run_id, '') || '|' || "
            "e.created_at, ';'), m.memory FROM (SELECT * FROM memory_events ORDER BY id) e "
            "LEFT JOIN memories m ON m.id = e.memory_id GROUP BY e.memory_id"
        ),
    }
    conn.close()
    return out


def copy(run_cli, src, dst, *extra):
    done = run_cli("db", "copy", "--from", src, "--to", dst, "--json", *extra)
    assert done.returncode == 0, done.stderr.decode()
    return json.loads(done.stdout)["copied"]


@pytest.mark.slow
def test_sqlite_to_postgres_to_sqlite_keeps_every_row(run_cli, pg_url, tmp_path):
    first, last = tmp_path / "laptop.db", tmp_path / "back.db"
    with SqliteDb(first) as db:
        fill(db)
    copied = copy(run_cli, str(first), pg_url)
    assert copied == {
        "sessions": 3,
        "runs": 12,
        "messages": 39,
        "model_calls": 9,
        "memories": 2,
        "memory_events": 5,
    }
    assert copy(run_cli, pg_url, str(last)) == copied
    assert dump(last) == dump(first)


def test_a_second_copy_copies_nothing(run_cli, pg_url, tmp_path):
    src = tmp_path / "a.db"
    with SqliteDb(src) as db:
        fill(db)
    copy(run_cli, str(src), pg_url)
    assert set(copy(run_cli, str(src), pg_url).values()) == {0}
    with open_store(pg_url) as db:
        assert db.info().counts == {
            "sessions": 3,
            "runs": 12,
            "messages": 39,
            "model_calls": 9,
            "memories": 2,
            "memory_events": 5,
        }


def test_runs_added_later_are_copied_with_their_session(run_cli, tmp_path):
    src, dst = tmp_path / "a.db", tmp_path / "b.db"
    with SqliteDb(src) as db:
        _, run = db.begin_run("u", "s", "one", "m", "o")
        db.finish_run(run.pk, status="completed")
    copy(run_cli, str(src), str(dst))
    with SqliteDb(src) as db:
        _, run = db.begin_run("u", "s", "two", "m", "o")
        db.finish_run(run.pk, status="completed")
    assert copy(run_cli, str(src), str(dst))["runs"] == 1
    with SqliteDb(dst) as db:
        assert [m.content for m in db.session_messages(1)] == ["one", "two"]


def test_a_failure_half_way_leaves_no_partial_session(run_cli, pg_url, tmp_path):
    src = tmp_path / "a.db"
    with SqliteDb(src) as db:
        for session in ["s1", "s2", "s3"]:
            text = "poison" if session == "s2" else f"hello {session}"
            for content in ["first", text]:
                _, run = db.begin_run("u", session, content, "m", "o")
                db.finish_run(run.pk, status="completed")
    with open_store(pg_url):
        pass  # the schema exists; a trigger refuses one message
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION agentcli_test.refuse() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN IF new.content = 'poison' THEN RAISE EXCEPTION 'disk full'; END IF; "
            "RETURN new; END $$"
        )
        conn.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON agentcli_test.messages "
            "FOR EACH ROW EXECUTE FUNCTION agentcli_test.refuse()"
        )
    done = run_cli("db", "copy", "--from", str(src), "--to", pg_url)
    assert done.returncode == 1
    assert done.stderr.decode().endswith(": disk full\n")
    with open_store(pg_url) as db:
        assert [s.session_id for s in db.list_sessions(None)] == ["s1"]
        assert db.info().counts["runs"] == 2
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("DROP TRIGGER refuse ON agentcli_test.messages")
        conn.execute("DROP FUNCTION agentcli_test.refuse")
    assert copy(run_cli, str(src), pg_url)["sessions"] == 2


def test_copy_counts_one_of_a_kind_in_the_singular(run_cli, tmp_path):
    with SqliteDb(tmp_path / "one.db") as db:
        _, run = db.begin_run("sarah", "s", "hello", "m", "host:1:x")
        db.finish_run(run.pk, status="completed", messages=[])
    done = run_cli(
        "db", "copy", "--from", str(tmp_path / "one.db"), "--to", str(tmp_path / "two.db")
    )
    assert done.stdout.decode().splitlines()[0] == (
        "copied 1 session, 1 run, 1 message, 0 model calls, 0 memories and 0 memory events"
    )


def test_copy_refuses_the_same_database_twice(run_cli, tmp_path):
    done = run_cli("db", "copy", "--from", str(tmp_path / "a.db"), "--to", str(tmp_path / "a.db"))
    assert (done.returncode, done.stderr) == (
        2,
        b"agentcli: error: --from and --to name the same database\n",
    )


def test_copy_prints_counts_and_hides_passwords(run_cli, pg_url, tmp_path):
    src = tmp_path / "a.db"
    with SqliteDb(src) as db:
        db.add_memory("u", "Likes tea.", actor="user")
    done = run_cli("db", "copy", "--from", str(src), "--to", pg_url)
    out = done.stdout.decode()
    assert out.splitlines()[0] == (
        "copied 0 sessions, 0 runs, 0 messages, 0 model calls, 1 memory and 1 memory event"
    )
    assert ":***@" in out and "s3cret" not in out


def test_info_on_sqlite(run_cli, tmp_path):
    path = tmp_path / "a.db"
    with SqliteDb(path) as db:
        db.begin_run("u", "s", "hi", "m", "o")
    done = run_cli("--db", str(path), "db", "info")
    assert done.stdout.decode() == (
        "backend:        sqlite\n"
        f"database:       {path}\n"
        f"schema version: {SCHEMA_VERSION}\n"
        "\n"
        "TABLE          ROWS\n"
        "sessions       1\n"
        "runs           1\n"
        "messages       1\n"
        "model_calls    0\n"
        "memories       0\n"
        "memory_events  0\n"
    )


def test_info_on_postgres_as_json(run_cli, pg_url):
    done = run_cli("--db", pg_url, "db", "info", "--json")
    shown = json.loads(done.stdout)
    assert shown["backend"] == "postgresql" and shown["schema_version"] == PG_SCHEMA_VERSION
    assert shown["database"].endswith("/agentcli_tests (schema agentcli_test)") or (
        "(schema agentcli_test)" in shown["database"]
    )
    assert ":***@" in shown["database"] and "s3cret" not in done.stdout.decode()
    assert set(shown["counts"].values()) == {0}
