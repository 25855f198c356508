"""Crashes: a process killed with SIGKILL mid-run loses nothing stored before it."""

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from chat_server import ChatServer, Hang, Text, last_user

from agentcli import Agent, OpenAIChat, SqliteDb

AGENTCLI = str(Path(sys.executable).with_name("agentcli"))
WORKER = str(Path(__file__).with_name("reliability_worker.py"))


def snapshot(path: Path) -> list[tuple]:
    """Every run with its messages, as stored."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT r.run_id, r.status, r.error, m.seq, m.role, m.content "
            "FROM runs r JOIN messages m ON m.run_pk = r.id ORDER BY r.id, m.seq"
        ).fetchall()
    finally:
        conn.close()


def integrity(path: Path) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA integrity_check").fetchall()
    finally:
        conn.close()


def wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition never came true"
        time.sleep(0.01)


def kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL


@pytest.fixture
def earlier(server, agentcli_home):
    """Three completed runs in alice's session and one of bob's, then the file's state."""
    path = agentcli_home / "agentcli.db"
    db = SqliteDb(path)
    agent = Agent(model=OpenAIChat("m", base_url=server.url), db=db)
    for text in ("one", "two", "three"):
        agent.run(text, user_id="alice", session_id="s")
    agent.run("bob's", user_id="bob", session_id="s")
    db.close()
    return path, snapshot(path)


def chat(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [AGENTCLI, "chat", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def next_start(server, path: Path) -> None:
    """Another process starts a run in alice's session: the sweep happens there."""
    db = SqliteDb(path)
    try:
        Agent(model=OpenAIChat("m", base_url=server.url), db=db).run(
            "after", user_id="alice", session_id="s"
        )
    finally:
        db.close()


@pytest.mark.slow
def test_sigkill_while_a_reply_streams(server, earlier):
    path, before = earlier
    server.script(Text("x" * 3000, chunk=10, delay=0.01))
    proc = chat("-u", "alice", "-s", "s", "the doomed one")
    assert proc.stdout.read(20) == b"x" * 20  # the reply is streaming
    kill(proc)

    assert integrity(path) == [("ok",)]
    after_kill = snapshot(path)
    assert after_kill[: len(before)] == before
    assert [row[1:] for row in after_kill[len(before) :]] == [
        ("running", None, 0, "user", "the doomed one")
    ]

    next_start(server, path)
    doomed = [row for row in snapshot(path) if row[0] == after_kill[-1][0]]
    assert [row[1:] for row in doomed] == [
        ("interrupted", "the process running it ended", 0, "user", "the doomed one")
    ]
    sent = [m["content"] for m in server.requests[-1]["messages"][1:]]
    assert sent == ["one", "echo: one", "two", "echo: two", "three", "echo: three", "after"]


@pytest.mark.slow
def test_sigkill_while_waiting_for_the_model(server, earlier):
    path, before = earlier
    server.script(Hang(30))
    proc = chat("-u", "alice", "-s", "s", "no answer yet")
    wait_for(lambda: len(server.requests) == 5)  # the doomed request has arrived
    kill(proc)

    assert integrity(path) == [("ok",)]
    next_start(server, path)
    rows = snapshot(path)
    assert rows[: len(before)] == before
    assert [row[1:] for row in rows[len(before) : len(before) + 1]] == [
        ("interrupted", "the process running it ended", 0, "user", "no answer yet")
    ]


KILLS = 8


def settled(rows: list[tuple]) -> list[tuple]:
    """Rows with "running" and "interrupted" (what the sweep makes of it) as one state."""
    unfinished = ("running", "interrupted")
    return [(r[0], "unfinished" if r[1] in unfinished else r[1], *r[3:]) for r in rows]


@pytest.mark.slow
def test_repeated_kills_at_random_moments_lose_nothing(agentcli_home, monkeypatch):
    """A worker keeps chatting; it is killed after a random number of replies, 8 times.

    Every other kill waits for the next request to reach the server (the run is
    stored as running and its reply streams in pieces); the others come after a
    random pause, landing anywhere: start-up, the sweep, storing the message or
    the reply.
    """

    def slow_echo(request):
        return Text(f"echo: {last_user(request)}", chunk=2, delay=0.005)

    def asked(server, text):
        return lambda: any(last_user(r) == text for r in list(server.requests))

    pick = random.Random(7)
    path = agentcli_home / "agentcli.db"
    replied: list[str] = []  # messages whose reply the user saw
    with ChatServer(default=slow_echo) as server:
        env = dict(
            os.environ, OPENAI_BASE_URL=server.url, AGENTCLI_MEMORY="off", AGENTCLI_SUMMARIES="0"
        )
        for round_no in range(KILLS):
            before = snapshot(path) if path.exists() else []
            proc = subprocess.Popen(
                [sys.executable, WORKER, "alice", "s", "1000", f"k{round_no}"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
            )
            count = pick.randint(1, 4)
            for i in range(count):
                assert proc.stdout.readline() == f"echo: k{round_no} r{i}\n".encode()
                replied.append(f"k{round_no} r{i}")
            if round_no % 2:
                wait_for(asked(server, f"k{round_no} r{count}"))
            else:
                time.sleep(pick.uniform(0, 0.1))
            kill(proc)
            assert integrity(path) == [("ok",)]
            # Everything stored before is intact (a killed run may since be marked).
            assert settled(snapshot(path))[: len(before)] == settled(before)

        next_start(server, path)

    rows = snapshot(path)
    runs: dict[str, list[tuple]] = {}
    for run_id, status, _error, seq, role, content in rows:
        runs.setdefault(run_id, []).append((status, seq, role, content))
    completed = {msgs[0][3] for msgs in runs.values() if msgs[0][0] == "completed"}
    assert set(replied) <= completed  # every reply the user saw is stored
    for msgs in runs.values():
        status, _, _, text = msgs[0]
        if status == "completed":
            assert [m[1:] for m in msgs] == [(0, "user", text), (1, "assistant", f"echo: {text}")]
        else:  # killed before its reply was stored: the message is kept
            assert status == "interrupted"
            assert [m[1:] for m in msgs] == [(0, "user", text)]
    interrupted = sum(msgs[0][0] == "interrupted" for msgs in runs.values())
    assert KILLS // 2 <= interrupted <= KILLS
