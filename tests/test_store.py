import os
import sqlite3
import stat
import subprocess
import sys
import threading

import pytest

from agentcli.adapters.sqlite import MIGRATIONS, SCHEMA_VERSION, SqliteDb
from agentcli.core.errors import SchemaTooNewError, StoreError
from agentcli.core.records import Usage


def schema_of(conn):
    return sorted(
        (kind, name)
        for kind, name in conn.execute("SELECT type, name FROM sqlite_master")
        if not name.startswith("sqlite_")
    )


def test_migrations_build_the_expected_schema_on_a_blank_database(tmp_path):
    db = SqliteDb(tmp_path / "a.db")
    names = {name for _, name in schema_of(db)}
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
        (3, "memory_counts"),
        (4, "run_attachments"),
        (5, "session_settings"),
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
        "attachments",
        "settings",
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


def test_opening_a_second_store_leaves_the_first_ones_locks(tmp_path):
    path = tmp_path / "a.db"
    first = SqliteDb(path)
    first.add_memory("u", "Likes tea.", actor="user")
    SqliteDb(path).close()
    # Another process reads and closes. Were this process's locks gone (a
    # plain open() and close() of the file drops them), it would think itself
    # the last one and checkpoint and delete the WAL under the first store.
    use = "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('PRAGMA user_version')"
    subprocess.run([sys.executable, "-c", use + "; c.close()", str(path)], check=True)
    assert os.path.exists(str(path) + "-wal")
    assert first.count_memories("u") == 1


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


@pytest.mark.sqlite_only("reads SQLite's EXPLAIN QUERY PLAN")
def test_the_context_window_query_the_store_runs_uses_the_index(db):
    """SQLite only: its query planner's words (PostgreSQL's plans are the benchmark's)."""
    session = db.ensure_session("u", "s")
    statements = []
    with db.tracer(lambda sql, params: statements.append((sql, params))):
        db.context_runs(session.pk, limit=5)
    sql, params = next((sql, p) for sql, p in statements if sql.startswith("SELECT id FROM runs"))
    plan = db.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
    assert [step for *_, step in plan] == [
        "SEARCH runs USING COVERING INDEX runs_by_session_status (session_pk=? AND status=? "
        "AND id>?)"
    ]


def test_sessions_are_counted_per_user_or_in_all(db):
    for user, session in [("ann", "a"), ("ann", "b"), ("bob", "a")]:
        db.ensure_session(user, session)
    counts = [db.count_sessions(u) for u in ("ann", "bob", "cid", None)]
    assert counts == [2, 1, 0, 3]


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
        with pytest.raises(StoreError, match="CHECK constraint failed"):
            db.add_memory("sarah", "Sarah likes jazz.", actor="someone")
        assert db.execute("PRAGMA index_list(memory_events)").fetchall() != []


def test_a_search_that_is_all_syntax_finds_nothing(db):
    db.begin_run("u", "s", "hello world", "m", "o")
    assert db.search_messages('"AND OR NEAR( * ^col:', None) == []
    assert [hit.snippet for hit in db.search_messages("HELLO!", "u")] == ["\x01hello\x02 world"]


# -- driver errors become StoreError, with their real cause -----------------------------
def holding(db, statement: str):
    """A thread that runs ``statement`` on its own connection and holds what it took."""
    took, done = threading.Event(), threading.Event()

    def hold():
        db.execute(statement)
        took.set()
        done.wait(10)
        db.execute("ROLLBACK")

    thread = threading.Thread(target=hold)
    thread.start()
    took.wait(10)
    return done, thread


def test_a_locked_database_is_an_error_not_an_empty_search():
    db = SqliteDb(":memory:", timeout=0.05)
    db.begin_run("u", "s", "hello", "m", "o")
    release, thread = holding(db, "BEGIN EXCLUSIVE")
    with pytest.raises(StoreError, match=r"^database \(in memory\): database is locked$"):
        db.search_messages("hello", "u")
    release.set()
    thread.join()
    assert len(db.search_messages("hello", "u")) == 1


def test_a_write_lock_held_by_another_process_is_one_line_naming_the_file(tmp_path):
    path = tmp_path / "a.db"
    db = SqliteDb(path, timeout=0.05)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(StoreError, match=f"^database {path}: database is locked$") as caught:
        db.add_memory("u", "Likes tea.", actor="user")
    assert not isinstance(caught.value, sqlite3.Error)
    other.execute("ROLLBACK")
    assert db.add_memory("u", "Likes tea.", actor="user")[1] is True


@pytest.mark.parametrize("room", range(1, 13))
def test_a_full_disk_is_reported_as_such_and_stores_nothing(tmp_path, room):
    db = SqliteDb(tmp_path / "a.db")
    db.add_memory("u", "Kept.", actor="user")
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages + room}")  # this thread's connection only
    rows = [{"memory": f"Fact {i}: " + "x" * 500} for i in range(200)]
    # Depending on where the disk fills up, SQLite rolls the transaction back
    # itself; the failed ROLLBACK after it ("no transaction is active") must
    # not take the place of the real cause.
    with pytest.raises(StoreError, match=r"a\.db: database or disk is full$"):
        db.import_memories("u", rows, actor="user")
    assert [m.memory for m in db.list_memories("u")] == ["Kept."]
    assert db.execute("SELECT count(*) FROM memory_events").fetchone() == (1,)


@pytest.mark.sqlite_only("defers SQLite's foreign-key check to COMMIT with a PRAGMA")
def test_a_failed_commit_is_reported_with_its_cause_and_rolled_back(db):
    """SQLite only: the failure is made with SQLite's ``defer_foreign_keys`` PRAGMA."""
    db.execute("PRAGMA defer_foreign_keys = ON")  # the check moves to COMMIT
    with pytest.raises(StoreError, match="FOREIGN KEY constraint failed"):
        db.record_model_call(
            user_id="u",
            session_pk=None,
            run_pk=404,
            purpose="memory",
            status="completed",
            model="m",
            usage=Usage(),
        )
    assert db.execute("SELECT count(*) FROM model_calls").fetchone() == (0,)
    assert db.ensure_session("u", "s").session_id == "s"  # no transaction left open


def test_a_closed_store_says_so():
    db = SqliteDb(":memory:")
    db.close()
    with pytest.raises(StoreError, match="is closed"):
        db.list_memories("u")


# -- one connection per thread ---------------------------------------------------
def in_thread(action):
    """What ``action`` returns (or raises) when run on a thread of its own."""
    outcome = []

    def run():
        try:
            outcome.append((action(), None))
        except Exception as exc:  # noqa: BLE001 - raised again below
            outcome.append((None, exc))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    [(result, error)] = outcome
    if error is not None:
        raise error
    return result


@pytest.mark.parametrize("where", ["file", "memory"])
def test_a_transaction_is_its_threads_own(tmp_path, where):
    db = SqliteDb(tmp_path / "a.db" if where == "file" else ":memory:", timeout=0.05)
    with db.transaction():
        db.add_memory("u", "Not yet committed.", actor="user")
        assert db.count_memories("u") == 1
        # Another thread is not inside this transaction: it does not see the
        # write (a file in WAL mode) or waits for it (in memory).
        try:
            seen = in_thread(lambda: db.count_memories("u"))
        except StoreError as exc:
            seen = str(exc)
        assert seen == (0 if where == "file" else "database (in memory): database is locked")
    assert in_thread(lambda: db.count_memories("u")) == 1


def test_a_read_in_one_thread_sees_one_moment_while_another_writes(tmp_path):
    db = SqliteDb(tmp_path / "a.db")
    db.add_memory("u", "First.", actor="user")
    with db.reading():
        assert db.count_memories("u") == 1
        in_thread(lambda: db.add_memory("u", "Second.", actor="user"))
        assert [m.memory for m in db.list_memories("u")] == ["First."]
    assert db.count_memories("u") == 2


@pytest.mark.parametrize("where", ["file", "memory"])
def test_threads_write_and_read_at_once(tmp_path, where):
    db = SqliteDb(tmp_path / "a.db" if where == "file" else ":memory:")
    errors = []

    def work(k):
        try:
            for i in range(20):
                session, run = db.begin_run(f"user{k}", "s", f"m{i}", "model", "owner")
                db.add_memory(f"user{k}", f"Fact {i} of {k}.", actor="agent")
                db.finish_run(run.pk, status="completed", messages=[{"role": "assistant"}])
                assert len(db.context_runs(session.pk, limit=3)) == min(i + 1, 3)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [db.count_memories(f"user{k}") for k in range(4)] == [20] * 4
    assert db.execute("SELECT status, count(*) FROM runs GROUP BY 1").fetchall() == [
        ("completed", 80)
    ]
    assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd")
def test_a_threads_connection_is_closed_when_the_thread_ends(tmp_path):
    db = SqliteDb(tmp_path / "a.db")
    in_thread(lambda: db.add_memory("u", "First.", actor="agent"))  # the -wal file exists
    before = len(os.listdir("/proc/self/fd"))
    for i in range(30):  # like the agent's follow-up work: a new thread for each run
        in_thread(lambda i=i: db.add_memory("u", f"Fact {i}.", actor="agent"))
    assert (db.count_memories("u"), len(os.listdir("/proc/self/fd"))) == (31, before)


def test_two_in_memory_stores_are_two_databases():
    a, b = SqliteDb(":memory:"), SqliteDb(":memory:")
    a.add_memory("u", "Only in a.", actor="user")
    assert (a.count_memories("u"), b.count_memories("u")) == (1, 0)


# -- watching the statements -------------------------------------------------------
def test_a_tracer_given_at_opening_sees_the_migrations(tmp_path):
    seen = []
    SqliteDb(tmp_path / "a.db", tracer=lambda sql, params: seen.append(sql)).close()
    assert any(sql.startswith("CREATE TABLE sessions") for sql in seen)


@pytest.mark.sqlite_only("the statement tracer is the SQLite store's")
def test_the_tracer_sees_every_thread_with_parameters_within_its_block(db):
    """SQLite only: ``tracer`` is a hook of the SQLite store (not of the Store protocol)."""
    seen = []
    with db.tracer(lambda sql, params: seen.append((sql, params))):
        in_thread(lambda: db.get_memory("sarah", 1) if db.count_memories("sarah") else None)
    db.count_memories("after")
    # The new thread's connection was opened (its pragmas), then the query ran.
    assert seen[-1] == ("SELECT memories FROM memory_counts WHERE user_id = ?", ("sarah",))
    assert {sql.split()[0] for sql, _ in seen[:-1]} == {"PRAGMA"}


# -- how many memories each user has ----------------------------------------------------
def test_memory_counts_follow_every_change(db):
    db.import_memories("u", [{"memory": "a"}, {"memory": "b"}, {"memory": "c"}], actor="user")
    db.add_memory("v", "d", actor="user")
    db.delete_memory("u", 1, actor="user")
    assert (db.count_memories("u"), db.count_memories("v")) == (2, 1)
    db.clear_memories("u", actor="user")
    assert (db.count_memories("u"), db.count_memories("v"), db.count_memories("w")) == (0, 1, 0)


def test_upgrading_a_first_version_database_counts_its_memories(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[0][1])
    conn.executemany(
        "INSERT INTO memories (user_id, memory, normalized, created_at, updated_at) "
        "VALUES (?, ?, ?, 'x', 'x')",
        [("u", "a", "a"), ("u", "b", "b"), ("v", "c", "c")],
    )
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    db = SqliteDb(path)
    assert (db.schema_version(), db.count_memories("u"), db.count_memories("v")) == (
        SCHEMA_VERSION,
        2,
        1,
    )
