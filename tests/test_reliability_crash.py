"""Crashes: a process killed with SIGKILL mid-run loses nothing stored before it
(on a SQLite file and on PostgreSQL alike)."""

import os
import random
import signal
import time

import pytest
from chat_server import ChatServer, Hang, Text, ToolCalls, last_user
from forkserver import Forked, ForkServer
from reliability_model import LATEST, listed, manager, scripted
from scripted_model import ScriptedModel
from stores import is_pg, query

from agentcli import Agent
from agentcli.runtime import open_store


def snapshot(path: str) -> list[tuple]:
    """Every run with its messages, as stored."""
    return query(
        path,
        "SELECT r.run_id, r.status, r.error, m.seq, m.role, m.content "
        "FROM runs r JOIN messages m ON m.run_pk = r.id ORDER BY r.id, m.seq",
    )


def integrity(path: str) -> list[tuple]:
    """SQLite's check of the file; a PostgreSQL server checks its own pages."""
    return [("ok",)] if is_pg(path) else query(path, "PRAGMA integrity_check")


@pytest.fixture
def target(store_target, monkeypatch):
    """The database every process of the test uses (``AGENTCLI_DB``)."""
    monkeypatch.setenv("AGENTCLI_DB", store_target)
    return store_target


def wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition never came true"
        time.sleep(0.01)


def kill(proc: Forked) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL


@pytest.fixture
def earlier(target):
    """Three completed runs in alice's session and one of bob's, then the store's state."""
    path = target
    db = open_store(path)
    agent = Agent(model=ScriptedModel("m"), db=db)
    for text in ("one", "two", "three"):
        agent.run(text, user_id="alice", session_id="s")
    agent.run("bob's", user_id="bob", session_id="s")
    db.close()
    return path, snapshot(path)


def chat(forks: ForkServer, *args: str, env: dict | None = None) -> Forked:
    """``agentcli chat ARGS`` in a process of its own (forked: see forkserver.py)."""
    return forks.spawn(["chat", *args], env=dict(os.environ, **(env or {})))


def next_start(path: str, **settings) -> ScriptedModel:
    """Another process starts a run in alice's session: the sweep happens there.
    Returns the model it asked (with the manager of the reliability tests)."""
    model = ScriptedModel("m", memory=manager)
    db = open_store(path)
    try:
        Agent(model=model, db=db, **settings).run("after", user_id="alice", session_id="s")
    finally:
        db.close()
    return model


@pytest.mark.slow
def test_sigkill_while_a_reply_streams(server, forks, earlier):
    path, before = earlier
    server.script(Text("x" * 3000, chunk=10, delay=0.01))
    proc = chat(forks, "-u", "alice", "-s", "s", "the doomed one")
    assert proc.stdout.read(20) == b"x" * 20  # the reply is streaming
    kill(proc)

    assert integrity(path) == [("ok",)]
    after_kill = snapshot(path)
    assert after_kill[: len(before)] == before
    assert [row[1:] for row in after_kill[len(before) :]] == [
        ("running", None, 0, "user", "the doomed one")
    ]

    model = next_start(path)
    doomed = [row for row in snapshot(path) if row[0] == after_kill[-1][0]]
    assert [row[1:] for row in doomed] == [
        ("interrupted", "the process running it ended", 0, "user", "the doomed one")
    ]
    sent = [content for _, content in model.requests[-1].pairs()]
    assert sent == ["one", "echo: one", "two", "echo: two", "three", "echo: three", "after"]


@pytest.mark.slow
def test_sigkill_while_waiting_for_the_model(server, forks, earlier):
    path, before = earlier
    server.script(Hang(30))
    proc = chat(forks, "-u", "alice", "-s", "s", "no answer yet")
    wait_for(lambda: len(server.requests) == 1)  # the doomed request has arrived
    kill(proc)

    assert integrity(path) == [("ok",)]
    next_start(path)
    rows = snapshot(path)
    assert rows[: len(before)] == before
    assert [row[1:] for row in rows[len(before) : len(before) + 1]] == [
        ("interrupted", "the process running it ended", 0, "user", "no answer yet")
    ]


KILLS = 12
# What each kill waits for, in turn: a random moment; the next run's reply
# streaming; the memory manager's call in flight; a summary fold in flight.
MOMENTS = ["random", "reply", "memory", "summary"]


def settled(rows: list[tuple]) -> list[tuple]:
    """Rows with "running" and "interrupted" (what the sweep makes of it) as one state."""
    unfinished = ("running", "interrupted")
    return [(r[0], "unfinished" if r[1] in unfinished else r[1], *r[3:]) for r in rows]


def grown(items: list, size: int):
    return lambda: len(items) >= size


def through(path: str) -> int:
    return query(path, "SELECT coalesce(max(summary_through), 0) FROM sessions")[0][0]


@pytest.mark.slow
def test_repeated_kills_at_random_moments_lose_nothing(target, forks):
    """A worker keeps chatting, with the automatic memory manager and summary folds
    after every run; it is killed after a random number of replies, 12 times.

    In turn, a kill comes after a random pause (landing anywhere: start-up, the
    sweep, storing the message or the reply, a memory update, a fold), once the
    next run's reply streams, while a memory manager call is in flight, and
    while a fold is in flight.
    """
    hold: dict[str, str | None] = {"purpose": None}
    held: list[str] = []

    def model(request):
        if request.purpose == hold["purpose"]:
            held.append(hold["purpose"])
            hold["purpose"] = None
            return Hang(30)
        if request.purpose == "chat":
            return Text(f"echo: {last_user(request)}", chunk=2, delay=0.005)
        return scripted(request)

    def asked(server, text):
        return lambda: any(last_user(r) == text for r in list(server.requests))

    pick = random.Random(7)
    path = target
    db = open_store(path)
    db.add_memory("alice", f"{LATEST}none yet.", actor="user")
    db.close()
    replied: list[str] = []  # messages whose reply the user saw
    with ChatServer(default=model) as server:
        env = dict(os.environ, OPENAI_BASE_URL=server.url, AGENTCLI_MEMORY="automatic", **FOLDING)
        for round_no in range(KILLS):
            before, folded_through = everything(path), through(path)
            proc = forks.spawn(["alice", "s", "1000", f"k{round_no}"], env=env, worker=True)
            count = pick.randint(1, 4)
            for i in range(count):
                assert proc.stdout.readline() == f"echo: k{round_no} r{i}\n".encode()
                replied.append(f"k{round_no} r{i}")
            moment = MOMENTS[round_no % len(MOMENTS)]
            if moment == "random":
                time.sleep(pick.uniform(0, 0.1))
            elif moment == "reply":
                wait_for(asked(server, f"k{round_no} r{count}"))
            else:
                hold["purpose"] = moment
                wait_for(grown(held, len(held) + 1))
            kill(proc)
            assert integrity(path) == [("ok",)]
            # Everything stored before is intact (a killed run may since be marked,
            # a memory since be rewritten); summaries only move forward.
            after = everything(path)
            assert settled(after["runs"])[: len(before["runs"])] == settled(before["runs"])
            for name in ("memory_events", "model_calls"):
                assert after[name][: len(before[name])] == before[name]
            assert {m[0] for m in before["memories"]} <= {m[0] for m in after["memories"]}
            assert through(path) >= folded_through

    next_start(path, update_memory_on_run=True, **AGENT_FOLDING)
    assert held == ["memory", "summary"] * (KILLS // len(MOMENTS))

    state = everything(path)
    runs: dict[str, list[tuple]] = {}
    for run_id, status, _error, seq, role, content in state["runs"]:
        runs.setdefault(run_id, []).append((status, seq, role, content))
    completed = {msgs[0][3]: run_id for run_id, msgs in runs.items() if msgs[0][0] == "completed"}
    assert set(replied) <= set(completed)  # every reply the user saw is stored
    for msgs in runs.values():
        status, _, _, text = msgs[0]
        if status == "completed":
            assert [m[1:] for m in msgs] == [(0, "user", text), (1, "assistant", f"echo: {text}")]
        else:  # killed before its reply was stored: the message is kept
            assert status == "interrupted"
            assert [m[1:] for m in msgs] == [(0, "user", text)]
    interrupted = sum(msgs[0][0] == "interrupted" for msgs in runs.values())
    assert KILLS // len(MOMENTS) <= interrupted <= KILLS

    # Memories: each fact names a completed run and was added by that run's
    # manager call; the "Latest note" history is one unbroken chain.
    events: dict[int, list[tuple]] = {}
    for memory_id, *event in state["memory_events"]:
        events.setdefault(memory_id, []).append(tuple(event))
    assert sorted(events) == [m[0] for m in state["memories"]]
    for memory_id, _, text in state["memories"]:
        if text.startswith("User said "):
            said = text.removeprefix("User said ").removesuffix(".")
            assert events[memory_id] == [("alice", "add", None, text, "manager", completed[said])]
        else:
            chain = events[memory_id]
            for earlier, later in zip(chain, chain[1:], strict=False):
                assert later[1:3] == ("update", earlier[3])
            assert chain[-1][3] == text == f"{LATEST}after."
    # The summary lists exactly the completed runs up to the one it covers through.
    [(_, _, summary, last)] = state["summaries"]
    pks = dict(query(path, "SELECT run_id, id FROM runs"))
    covered = [text for text, run_id in completed.items() if pks[run_id] <= last]
    assert summary == "\n".join(f"- {text}" for text in covered)


# -- kills during follow-up work: memory updates and summary folds ----------------
# Windows small enough that every run of alice's session folds the run before last.
FOLDING = {"AGENTCLI_HISTORY_RUNS": "2", "AGENTCLI_SUMMARY_BATCH": "1"}
AGENT_FOLDING = dict(enable_session_summaries=True, num_history_runs=2, summary_batch_runs=1)
TABLES = {
    "runs": "SELECT r.run_id, r.status, r.error, m.seq, m.role, m.content "
    "FROM runs r JOIN messages m ON m.run_pk = r.id ORDER BY r.id, m.seq",
    "memories": "SELECT id, user_id, memory FROM memories ORDER BY id",
    "memory_events": "SELECT memory_id, user_id, action, before, after, actor, run_id "
    "FROM memory_events ORDER BY id",
    "model_calls": "SELECT run_pk, purpose, status FROM model_calls ORDER BY id",
    "summaries": "SELECT user_id, session_id, summary, summary_through FROM sessions ORDER BY id",
}


def everything(path: str) -> dict[str, list[tuple]]:
    return {name: query(path, sql) for name, sql in TABLES.items()}


def added(before: dict[str, list[tuple]], after: dict[str, list[tuple]]) -> dict[str, list]:
    """What was stored since ``before``; everything stored before must be unchanged."""
    for name, rows in before.items():
        assert after[name][: len(rows)] == rows, name
    return {name: rows[len(before[name]) :] for name, rows in after.items() if name in before}


def summary_of(path: str, user: str = "alice", session: str = "s") -> str | None:
    return {(r[0], r[1]): r[2] for r in everything(path)["summaries"]}[(user, session)]


@pytest.fixture
def remembered(server, target):
    """Alice's session of three runs, her memories (one per run, from the automatic
    manager) and a summary; one run of bob's; then the store's state."""
    server.default = scripted  # for the processes the tests start
    path = target
    db = open_store(path)
    db.add_memory("alice", f"{LATEST}none yet.", actor="user")
    model = ScriptedModel("m", memory=manager)
    agent = Agent(model=model, db=db, update_memory_on_run=True, **AGENT_FOLDING)
    for text in ("one", "two", "three"):
        agent.run(text, user_id="alice", session_id="s")
    agent.run("bob's", user_id="bob", session_id="s")
    db.close()
    state = everything(path)
    assert summary_of(path) == "- one"
    assert [m[2] for m in state["memories"]][1:] == [
        "User said one.",
        "User said two.",
        "User said three.",
        "User said bob's.",
    ]
    return path, state


def killed_in_flight(server, forks, which: str, *args: str, env: dict) -> None:
    """Start ``agentcli chat`` and SIGKILL it once its ``which`` request has arrived
    (the server holds that request unanswered)."""
    seen = len(server.requests)
    proc = chat(forks, *args, env=env)
    wait_for(lambda: len(server.requests) == seen + 2)
    assert server.requests[-1].purpose == which
    kill(proc)


@pytest.mark.slow
def test_sigkill_while_the_memory_manager_is_asked(server, forks, remembered):
    path, before = remembered
    server.script(scripted, Hang(30))  # the reply comes; the manager's call never returns
    args = ("--memory", "automatic", "-u", "alice", "-s", "s", "doomed")
    killed_in_flight(server, forks, "memory", *args, env=FOLDING)

    assert integrity(path) == [("ok",)]
    new = added(before, everything(path))
    run_id = new["runs"][0][0]
    assert new == {  # the run was complete: it is kept whole; its memory update never happened
        "runs": [
            (run_id, "completed", None, 0, "user", "doomed"),
            (run_id, "completed", None, 1, "assistant", "echo: doomed"),
        ],
        "memories": [],
        "memory_events": [],
        "model_calls": [],
        "summaries": [],
    }

    next_start(path, update_memory_on_run=True, **AGENT_FOLDING)
    memories = [m[2] for m in everything(path)["memories"] if m[1] == "alice"]
    assert memories[-1] == "User said after."
    assert memories[0] == f"{LATEST}after."
    assert summary_of(path) == "- one\n- two\n- three"


@pytest.mark.slow
def test_sigkill_while_an_agentic_tool_round_is_in_flight(server, forks, remembered):
    path, before = remembered
    server.script(ToolCalls([("add_memory", {"memory": "Alice keeps bees."})]), Hang(30))
    args = ("--memory", "agentic", "-u", "alice", "-s", "s", "I keep bees")
    killed_in_flight(server, forks, "chat", *args, env=FOLDING)

    assert integrity(path) == [("ok",)]
    new = added(before, everything(path))
    run_id = new["runs"][0][0]
    # The tool had run: its memory is stored, with the run that made it; the
    # run itself keeps only the user's message.
    assert new["runs"] == [(run_id, "running", None, 0, "user", "I keep bees")]
    [(memory_id, _, _)] = new["memories"]
    assert new["memories"] == [(memory_id, "alice", "Alice keeps bees.")]
    assert new["memory_events"] == [
        (memory_id, "alice", "add", None, "Alice keeps bees.", "agent", run_id)
    ]

    model = next_start(path, enable_agentic_memory=True, **AGENT_FOLDING)
    request = model.calls("chat")[-1]  # the next run's chat
    assert listed(request)[memory_id] == "Alice keeps bees."
    users = [m["content"] for m in request["messages"] if m["role"] == "user"]
    assert users == ["two", "three", "after"]  # the killed run stays out
    assert everything(path)["runs"][len(before["runs"])][:3] == (
        run_id,
        "interrupted",
        "the process running it ended",
    )
    assert summary_of(path) == "- one\n- two"


@pytest.mark.slow
def test_sigkill_during_a_summary_fold(server, forks, remembered):
    path, before = remembered
    server.script(scripted, Hang(30))  # the reply comes; the fold's call never returns
    args = ("--memory", "off", "-u", "alice", "-s", "s", "doomed")
    killed_in_flight(server, forks, "summary", *args, env=FOLDING)

    assert integrity(path) == [("ok",)]
    new = added(before, everything(path))
    assert [row[1:] for row in new["runs"]] == [
        ("completed", None, 0, "user", "doomed"),
        ("completed", None, 1, "assistant", "echo: doomed"),
    ]
    assert new["summaries"] == new["model_calls"] == []
    assert everything(path)["summaries"] == before["summaries"]  # not half-stored

    next_start(path, **AGENT_FOLDING)  # folds what the killed process did not
    assert summary_of(path) == "- one\n- two\n- three"


@pytest.mark.slow
def test_summarize_after_a_kill_marks_the_run_and_folds_past_it(cli, server, forks, earlier):
    path, before = earlier
    server.default = scripted
    server.script(Hang(30))
    proc = chat(forks, "--memory", "off", "--no-summaries", "-u", "alice", "-s", "s", "doomed")
    wait_for(lambda: len(server.requests) == 1)
    kill(proc)
    db = open_store(path)  # a process that was already running before the kill
    session = db.get_session("alice", "s")
    later = db.start_run(session, "later", "m", "elsewhere:1:1")
    db.finish_run(later.pk, status="completed", messages=[{"role": "assistant", "content": "ok"}])
    db.close()

    out = cli("summarize", "-u", "alice", "-s", "s")
    assert (out.exit_code, out.stdout) == (0, "- one\n- two\n- three\n- later\n")
    statuses = [row[1] for row in snapshot(path) if row[3] == 0]
    assert statuses == ["completed"] * 4 + ["interrupted", "completed"]


@pytest.mark.slow
def test_a_long_running_process_sweeps_a_run_another_process_left_behind(server, forks, earlier):
    path, _ = earlier
    db = open_store(path)
    agent = Agent(model=ScriptedModel("m"), db=db, **AGENT_FOLDING)
    agent.run("four", user_id="alice", session_id="s")  # this process's first run
    server.script(Hang(30))
    proc = chat(forks, "--memory", "off", "-u", "alice", "-s", "s", "doomed", env=FOLDING)
    wait_for(lambda: len(server.requests) == 1)
    kill(proc)
    for text in ("five", "six", "seven"):
        agent.run(text, user_id="alice", session_id="s")
    db.close()
    # Folds went on past the killed run (which no longer counts as running).
    assert summary_of(path) == "- one\n- two\n- three\n- four\n- five"
    assert [row[1] for row in snapshot(path) if row[5] == "doomed"] == ["interrupted"]
