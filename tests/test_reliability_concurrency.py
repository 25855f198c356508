"""Concurrency: many processes writing one database at once, each with the automatic
memory manager and summary folds running after its runs, lose and mix nothing
(on a SQLite file and on PostgreSQL alike)."""

import os
import re
import threading
from collections import Counter
from pathlib import Path

import pytest
from reliability_model import (
    LATEST,
    history_users,
    listed,
    memory_lines,
    scripted,
    summary_lines,
    turn,
)
from scripted_model import folded
from stores import is_pg, query, script

from agentcli.adapters.sqlite import SqliteDb
from agentcli.runtime import open_store

RUNS = 25
# (user, session) of each of 8 processes: four share one session, one more
# writes another session of the same user, bob uses the same session id as
# alice (a different thread), and one user id looks like SQL.
PLAN = [
    ("alice", "shared"),
    ("alice", "shared"),
    ("alice", "shared"),
    ("alice", "shared"),
    ("alice", "own"),
    ("bob", "shared"),
    ("bob", "b"),
    ("carol' OR '1'='1", "c"),
]
USERS = sorted({user for user, _ in PLAN})
# Small windows, so that folds follow every other run of a session.
SETTINGS = {
    "AGENTCLI_MEMORY": "automatic",
    "AGENTCLI_SUMMARIES": "1",
    "AGENTCLI_HISTORY_RUNS": "2",
    "AGENTCLI_SUMMARY_BATCH": "2",
}
# Test-only: a log of every change of a session's summary, written by the database itself.
SUMMARY_LOG = """
CREATE TABLE test_summary_log (
    n INTEGER PRIMARY KEY, session_pk INTEGER, before INTEGER, after INTEGER, summary TEXT);
CREATE TRIGGER test_summary_logged AFTER UPDATE OF summary_through ON sessions BEGIN
    INSERT INTO test_summary_log (session_pk, before, after, summary)
        VALUES (new.id, old.summary_through, new.summary_through, new.summary);
END;
"""
SUMMARY_LOG_PG = """
CREATE TABLE test_summary_log (
    n serial PRIMARY KEY, session_pk bigint, before bigint, after bigint, summary text);
CREATE FUNCTION test_summary_logged() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
    INSERT INTO test_summary_log (session_pk, before, after, summary)
        VALUES (new.id, old.summary_through, new.summary_through, new.summary);
    RETURN new;
END $$;
CREATE TRIGGER test_summary_logged AFTER UPDATE OF summary_through ON sessions
    FOR EACH ROW EXECUTE FUNCTION test_summary_logged();
"""
DROP_SUMMARY_LOG_PG = """
DROP TRIGGER IF EXISTS test_summary_logged ON sessions;
DROP FUNCTION IF EXISTS test_summary_logged();
DROP TABLE IF EXISTS test_summary_log;
"""


def start_workers(forks, server, home: Path, plan, runs: int, target: str) -> list:
    """One process per (user, session) of ``plan`` (forked: see forkserver.py), each
    running ``reliability_worker``'s ``runs`` chat invocations on ``target``."""
    env = dict(
        os.environ,
        AGENTCLI_HOME=str(home),
        AGENTCLI_DB=target,
        OPENAI_BASE_URL=server.url,
        **SETTINGS,
    )
    return [
        forks.spawn([user, session, str(runs), f"w{k}"], env=env, worker=True)
        for k, (user, session) in enumerate(plan)
    ]


def prepare(target: str) -> None:
    """A database where each user has a "Latest note" memory for the manager to rewrite."""
    db = open_store(target)
    for user in USERS:
        db.add_memory(user, f"{LATEST}none yet.", actor="user")
    db.close()
    script(target, SUMMARY_LOG_PG if is_pg(target) else SUMMARY_LOG)


@pytest.fixture
def shared(store_target):
    """The database the workers share, with its summary log; the log removed after."""
    prepare(store_target)
    yield store_target
    if is_pg(store_target):
        script(store_target, DROP_SUMMARY_LOG_PG)


def tag_of(memory: str) -> str | None:
    """The run message a memory names ("User said w0 r1." -> "w0 r1"), if any."""
    found = re.fullmatch(r"(?:User said |Latest note: )(w\d+ r\d+)\.", memory)
    return found[1] if found else None


@pytest.mark.slow
def test_8_processes_x_25_runs_with_memory_and_summaries(server, forks, agentcli_home, shared):
    server.default = scripted
    workers = start_workers(forks, server, agentcli_home, PLAN, RUNS, shared)
    results = [(w.communicate(timeout=300), w.returncode) for w in workers]

    # Every invocation printed its reply and its two memory notices, and nothing else.
    for k, ((out, err), code) in enumerate(results):
        assert (code, out.decode()) == (0, "".join(f"echo: w{k} r{i}\n" for i in range(RUNS)))
        assert err.decode() == "".join(
            f"memory added: User said w{k} r{i}.\nmemory updated: {LATEST}w{k} r{i}.\n"
            for i in range(RUNS)
        )

    q = lambda sql: query(shared, sql)  # noqa: E731
    if not is_pg(shared):
        assert q("PRAGMA integrity_check") == [("ok",)]
    assert sorted(q("SELECT user_id, session_id FROM sessions")) == sorted(set(PLAN))

    # Every run stored exactly once, completed, as user then assistant, seq 0 and 1.
    runs = q(
        "SELECT r.id, r.status, s.user_id, s.session_id, r.started_at, r.run_id FROM runs r "
        "JOIN sessions s ON s.id = r.session_pk ORDER BY r.id"
    )
    messages: dict[int, list[tuple]] = {}
    for run_pk, *message in q(
        "SELECT run_pk, seq, role, content FROM messages ORDER BY run_pk, seq"
    ):
        messages.setdefault(run_pk, []).append(tuple(message))
    expected = {f"w{k} r{i}": thread for k, thread in enumerate(PLAN) for i in range(RUNS)}
    assert len(runs) == len(expected)
    texts, run_ids = {}, {}  # run pk -> its user message; user message -> run id
    for run_pk, status, user, session, _, run_id in runs:
        text = messages[run_pk][0][2]
        assert status == "completed"
        assert messages[run_pk] == [(0, "user", text), (1, "assistant", f"echo: {text}")]
        assert expected[text] == (user, session)
        texts[run_pk], run_ids[text] = text, run_id
    assert Counter(texts.values()) == Counter(expected.keys())

    # Within each session, runs are stored in order: each process's runs in
    # the order it made them, and start times follow the order of storage.
    for thread in set(PLAN):
        in_session = [r for r in runs if tuple(r[2:4]) == thread]
        starts = [r[4] for r in in_session]
        assert starts == sorted(starts)
        order = [texts[r[0]] for r in in_session]
        for k in [k for k, p in enumerate(PLAN) if p == thread]:
            assert [t for t in order if t.startswith(f"w{k} ")] == [
                f"w{k} r{i}" for i in range(RUNS)
            ]

    # No memory update was lost: every fact the manager added exists once, and
    # each user's "Latest note" went through one update per run of that user,
    # each starting from what the previous one wrote.
    events: dict[int, list[tuple]] = {}
    for memory_id, *event in q(
        "SELECT memory_id, user_id, action, before, after, actor, run_id FROM memory_events "
        "ORDER BY id"
    ):
        events.setdefault(memory_id, []).append(tuple(event))
    memories = q("SELECT id, user_id, memory FROM memories ORDER BY id")
    assert sorted(events) == [m[0] for m in memories]  # no event without its memory
    for user in USERS:
        tags = sorted(t for t, (owner, _) in expected.items() if owner == user)
        mine = [(i, text) for i, owner, text in memories if owner == user]
        facts = [(i, text) for i, text in mine if text.startswith("User said ")]
        assert sorted(text for _, text in facts) == sorted(f"User said {t}." for t in tags)
        for memory_id, text in facts:
            assert events[memory_id] == [
                (user, "add", None, text, "manager", run_ids[tag_of(text)])
            ]
        [(latest_id, latest)] = [(i, text) for i, text in mine if text.startswith(LATEST)]
        chain = events[latest_id]
        assert chain[0] == (user, "add", None, f"{LATEST}none yet.", "user", None)
        for earlier, later in zip(chain, chain[1:], strict=False):
            assert later[:3] == (user, "update", earlier[3])
            assert later[4:] == ("manager", run_ids[tag_of(later[3])])
        assert chain[-1][3] == latest
        assert sorted(tag_of(e[3]) for e in chain[1:]) == tags

    # One completed memory call per run; every fold completed.
    calls = q("SELECT run_pk, purpose, status FROM model_calls")
    assert Counter(c[0] for c in calls if c[1:] == ("memory", "completed")) == Counter(list(texts))
    assert {c[2] for c in calls if c[1] == "summary"} == {"completed"}

    # Summaries never went backwards: each stored summary started from the one
    # before it, covers more runs, and lists exactly the runs up to its last.
    log: dict[int, list[tuple]] = {}
    for session_pk, *change in q(
        "SELECT session_pk, before, after, summary FROM test_summary_log ORDER BY n"
    ):
        log.setdefault(session_pk, []).append(tuple(change))
    in_session: dict[int, list[int]] = {}
    for run_pk, session_pk in q("SELECT id, session_pk FROM runs ORDER BY id"):
        in_session.setdefault(session_pk, []).append(run_pk)
    assert sorted(log) == sorted(in_session)  # every session was folded
    for session_pk, changes in log.items():
        previous = None
        for before, after, summary in changes:
            assert (before, before is None or after > before) == (previous, True)
            covered = [texts[pk] for pk in in_session[session_pk] if pk <= after]
            assert summary == "\n".join(f"- {t}" for t in covered)
            previous = after

    # No request carried another thread's messages or another user's memories;
    # no run was both in the summary and verbatim.
    def owner(tag: str | None) -> str | None:
        return expected[tag][0] if tag else None

    assert {r.purpose for r in server.requests} == {"chat", "memory", "summary"}
    for request in server.requests:
        if request.purpose == "chat":
            users, summary = history_users(request), summary_lines(request)
            thread = expected[users[-1]]
            assert {expected[t] for t in users + summary} == {thread}
            assert not set(summary) & set(users)
            assert {owner(tag_of(m)) for m in memory_lines(request)} <= {thread[0], None}
        elif request.purpose == "memory":
            user = expected[turn(request)][0]
            assert {owner(tag_of(m)) for m in listed(request).values()} <= {user, None}
        else:
            previous, said = folded(request)
            assert len({expected[t] for t in previous + said}) == 1


def test_a_data_directory_another_process_creates_meanwhile_is_used(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir(mode=0o700)  # made by another process after this one looked
    exists = Path.exists
    monkeypatch.setattr(Path, "exists", lambda p: p != home and exists(p))
    SqliteDb(home / "agentcli.db").close()
    assert (home / "agentcli.db").is_file()


@pytest.mark.parametrize("where", ["file", "memory"])
def test_threads_of_one_process_share_one_store(server, tmp_path, where):
    """A server's workers: one agent per thread over one store, with the memory
    manager and folds on each agent's own follow-up thread."""
    from agentcli import Agent, OpenAIChat

    server.default = scripted
    db = SqliteDb(tmp_path / "a.db" if where == "file" else ":memory:")
    users = ["alice", "bob", "carol", "dave"]
    failures: list[BaseException] = []

    def worker(user: str) -> None:
        agent = Agent(
            model=OpenAIChat("m", base_url=server.url, timeout=30),
            db=db,
            num_history_runs=2,
            update_memory_on_run=True,
            enable_session_summaries=True,
            summary_batch_runs=2,
        )
        try:
            for i in range(10):
                assert agent.run(f"{user} r{i}", user_id=user, session_id="s").content == (
                    f"echo: {user} r{i}"
                )
            agent.wait()
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert failures == []
    for user in users:
        assert sorted(m.memory for m in db.list_memories(user)) == sorted(
            f"User said {user} r{i}." for i in range(10)
        )
        session = db.require_session(user, "s")
        assert db.count_completed_runs(session.pk) == 10
        assert db.summary_state(session.pk).summary.startswith(f"- {user} r0\n")
    assert db.execute("SELECT DISTINCT status FROM model_calls").fetchall() == [("completed",)]
    assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    db.close()
