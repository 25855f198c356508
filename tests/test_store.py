import os
import sqlite3
import stat

import pytest

from agentcli.adapters.sqlite import SCHEMA_VERSION, SqliteDb
from agentcli.core.errors import SchemaTooNewError, StoreError


def schema_of(conn):
    return sorted(
        (kind, name)
        for kind, name in conn.execute("SELECT type, name FROM sqlite_master")
        if not name.startswith("sqlite_")
    )


def test_migrations_build_the_expected_schema_on_a_blank_database(tmp_path):
    db = SqliteDb(tmp_path / "a.db")
    names = {name for _, name in schema_of(db.conn)}
    assert {
        "sessions",
        "runs",
        "messages",
        "messages_fts",
        "memories",
        "memories_fts",
        "memory_events",
        "model_calls",
        "schema_migrations",
    } <= names
    assert db.execute("SELECT version, name FROM schema_migrations").fetchall() == [
        (1, "initial"),
        (2, "mcp_actor"),
    ]
    assert db.schema_version() == SCHEMA_VERSION
    cols = [r[1] for r in db.execute("PRAGMA table_info(runs)")]
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
    ]


def test_reopening_applies_nothing_twice(tmp_path):
    SqliteDb(tmp_path / "a.db").close()
    db = SqliteDb(tmp_path / "a.db")
    assert db.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == SCHEMA_VERSION


def test_pragmas(tmp_path):
    db = SqliteDb(tmp_path / "a.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000


def test_new_directory_is_0700_and_file_0600(tmp_path):
    path = tmp_path / "data" / "x.db"
    SqliteDb(path).close()
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_newer_schema_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "new.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    before = path.read_bytes()
    with pytest.raises(SchemaTooNewError, match="newer than this agentcli"):
        SqliteDb(path)
    assert path.read_bytes() == before
    assert not os.path.exists(str(path) + "-wal")


def test_corrupt_file_is_refused_and_kept(tmp_path):
    path = tmp_path / "bad.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="bad.db"):
        SqliteDb(path)
    assert path.read_bytes() == b"this is not sqlite" * 100


def test_sessions_are_keyed_by_user_and_session(db):
    a = db.ensure_session("sarah", "thread-42")
    b = db.ensure_session("bob", "thread-42")
    assert a.pk != b.pk
    assert db.ensure_session("sarah", "thread-42").pk == a.pk


def test_begin_run_creates_the_session_and_returns_the_stored_run(db):
    session, run = db.begin_run("sarah", "t", "hello", "m", "owner")
    assert db.get_run(run.pk) == run
    assert (session.user_id, session.session_id, run.session_pk) == ("sarah", "t", session.pk)
    assert db.begin_run("sarah", "t", "again", "m", "owner")[0].pk == session.pk


def test_run_is_stored_with_user_message_first(db):
    session = db.ensure_session("sarah", "t")
    run = db.start_run(session, "hello", "m", "owner")
    assert run.status == "running"
    rows = db.execute("SELECT seq, role, content FROM messages").fetchall()
    assert rows == [(0, "user", "hello")]
    db.finish_run(run.pk, status="completed", messages=[{"role": "assistant", "content": "hi"}])
    rows = db.execute("SELECT seq, role, content FROM messages ORDER BY seq").fetchall()
    assert rows == [(0, "user", "hello"), (1, "assistant", "hi")]
    assert db.get_run(run.pk).status == "completed"


def test_context_window_takes_only_completed_runs(db):
    session = db.ensure_session("u", "s")
    for i, status in enumerate(["completed", "error", "completed", "cancelled", "completed"]):
        run = db.start_run(session, f"m{i}", "m", "o")
        db.finish_run(run.pk, status=status, messages=[{"role": "assistant", "content": f"r{i}"}])
    window = db.context_runs(session.pk, limit=2)
    assert [[m.content for m in run] for run in window] == [["m2", "r2"], ["m4", "r4"]]


def test_context_window_uses_the_index(db):
    plan = db.execute(
        "EXPLAIN QUERY PLAN SELECT id FROM runs WHERE session_pk = ? AND status = 'completed' "
        "AND id > ? ORDER BY id DESC LIMIT ?",
        (1, 0, 5),
    ).fetchall()
    assert "runs_by_session_status" in " ".join(str(r) for r in plan)


def test_deleting_a_session_deletes_runs_and_messages(db):
    session = db.ensure_session("u", "s")
    run = db.start_run(session, "x", "m", "o")
    db.finish_run(run.pk, status="completed", messages=[{"role": "assistant", "content": "y"}])
    db.delete_session("u", "s")
    assert db.execute("SELECT count(*) FROM runs").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM messages").fetchone()[0] == 0


def test_interrupted_runs_are_marked_only_when_their_process_is_gone(db):
    session = db.ensure_session("u", "s")
    dead = db.start_run(session, "a", "m", "host:1:dead")
    live = db.start_run(session, "b", "m", "host:2:live")
    assert db.mark_interrupted(lambda owner: owner.endswith("live")) == 1
    assert db.get_run(dead.pk).status == "interrupted"
    assert db.get_run(live.pk).status == "running"


def test_a_version_1_database_keeps_its_memory_history_and_accepts_the_mcp_actor(tmp_path):
    from agentcli.adapters.sqlite.db import _split_sql
    from agentcli.adapters.sqlite.schema import MIGRATIONS

    path = tmp_path / "v1.db"
    conn = sqlite3.connect(path)
    for statement in _split_sql(MIGRATIONS[0][1]):
        conn.execute(statement)
    conn.execute(
        "INSERT INTO memory_events (memory_id, user_id, action, before, after, actor, run_id, "
        "created_at) VALUES (99, 'sarah', 'add', NULL, 'Sarah likes tea.', 'agent', 'r1', 't')"
    )
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with SqliteDb(path) as db:
        assert [(e.actor, e.after, e.run_id) for e in db.memory_events("sarah", 99)] == [
            ("agent", "Sarah likes tea.", "r1")
        ]
        memory, _ = db.add_memory("sarah", "Sarah lives in Oslo.", actor="mcp")
        assert [e.actor for e in db.memory_events("sarah", memory.id)] == ["mcp"]
        with pytest.raises(sqlite3.IntegrityError):
            db.add_memory("sarah", "Sarah likes jazz.", actor="someone")
        assert db.execute("PRAGMA index_list(memory_events)").fetchall() != []
