"""Concurrency: many processes writing one database at once lose and mix nothing."""

import os
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

WORKER = str(Path(__file__).with_name("reliability_worker.py"))
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


def start_workers(server, home: Path, plan, runs: int) -> list[subprocess.Popen]:
    env = dict(
        os.environ,
        AGENTCLI_HOME=str(home),
        OPENAI_BASE_URL=server.url,
        # Round one of this suite: runs only (memory and summary folds join later).
        AGENTCLI_MEMORY="off",
        AGENTCLI_SUMMARIES="0",
    )
    return [
        subprocess.Popen(
            [sys.executable, WORKER, user, session, str(runs), f"w{k}"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        for k, (user, session) in enumerate(plan)
    ]


@pytest.mark.slow
def test_8_processes_x_25_runs_into_one_database(server, agentcli_home):
    workers = start_workers(server, agentcli_home, PLAN, RUNS)
    results = [(w.wait(timeout=300), *w.communicate()) for w in workers]

    # Every invocation succeeded, printed its own reply, and said nothing else.
    for k, (code, out, err) in enumerate(results):
        assert (code, err.decode()) == (0, "")
        assert out.decode() == "".join(f"echo: w{k} r{i}\n" for i in range(RUNS))

    conn = sqlite3.connect(agentcli_home / "agentcli.db")
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert sorted(conn.execute("SELECT user_id, session_id FROM sessions")) == sorted(set(PLAN))

    # Every run stored exactly once, completed, as user then assistant, seq 0 and 1.
    runs = conn.execute(
        "SELECT r.id, r.status, s.user_id, s.session_id, r.started_at FROM runs r "
        "JOIN sessions s ON s.id = r.session_pk ORDER BY r.id"
    ).fetchall()
    messages: dict[int, list[tuple]] = {}
    for run_pk, *message in conn.execute(
        "SELECT run_pk, seq, role, content FROM messages ORDER BY run_pk, seq"
    ):
        messages.setdefault(run_pk, []).append(tuple(message))
    expected = {f"w{k} r{i}": thread for k, thread in enumerate(PLAN) for i in range(RUNS)}
    assert len(runs) == len(expected)
    texts = {}  # run pk -> its user message
    for run_pk, status, user, session, _ in runs:
        text = messages[run_pk][0][2]
        assert status == "completed"
        assert messages[run_pk] == [(0, "user", text), (1, "assistant", f"echo: {text}")]
        assert expected[text] == (user, session)
        texts[run_pk] = text
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

    # No request carried another thread's messages.
    for request in server.requests:
        users = [m["content"] for m in request["messages"] if m["role"] == "user"]
        thread = expected[users[-1]]
        assert {expected[text] for text in users} == {thread}
