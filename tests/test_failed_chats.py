"""A failed chat leaves no session of its own behind; a named session keeps the failed run."""

import json
import time

from chat_server import Error, Text

from agentcli.services.sessions import discard_failed

RETRY = "(nothing was stored: run the command again to retry; with -s ID a failed message is kept)"


def bad_key(server, times):
    server.script(*[Error(401, "Incorrect API key provided") for _ in range(times)])


def test_five_failed_tries_leave_no_session(cli, server):
    bad_key(server, 5)
    for n in range(5):
        out = cli("chat", f"try {n}")
        assert out.exit_code == 1
        assert out.stderr.splitlines()[-1].endswith("Incorrect API key provided " + RETRY)
    assert len(server.requests) == 5
    assert cli("sessions", "list").stderr == "no sessions\n"


def test_a_failed_chat_in_a_named_session_keeps_the_message(cli, server):
    bad_key(server, 1)
    out = cli("chat", "-s", "mine", "keep this")
    assert out.exit_code == 1
    assert out.stderr.endswith("(your message was kept in session mine)\n")
    shown = cli("sessions", "show", "mine", "--json")
    [message] = json.loads(shown.stdout)["messages"]
    assert (message["content"], message["status"]) == ("keep this", "error")


def test_continue_passes_over_a_session_whose_every_run_failed(cli, server):
    cli("chat", "-s", "good", "hello")
    time.sleep(0.01)
    bad_key(server, 2)
    cli("chat", "-s", "broken", "first")
    cli("chat", "second")  # unnamed: leaves nothing
    out = cli("chat", "-c", "and again")
    assert out.exit_code == 0
    assert server.requests[-1]["messages"][1:] == [
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": "echo: hello"},
        {"role": "user", "content": "and again"},
    ]


def test_a_failure_after_a_reply_in_the_same_session_keeps_everything(cli, server):
    cli("chat", "-s", "s", "hello")
    bad_key(server, 1)
    out = cli("chat", "-c", "more")
    assert out.stderr.endswith("(your message was kept in session s)\n")
    statuses = [
        m["status"] for m in json.loads(cli("sessions", "show", "s", "--json").stdout)["messages"]
    ]
    assert statuses == ["completed", "completed", "error"]


def test_latest_session_skips_those_with_only_failed_runs(db):
    def run(session_id, status):
        _, started = db.begin_run("sarah", session_id, "x", "m", "test")
        db.finish_run(started.pk, status=status)
        time.sleep(0.002)

    run("good", "completed")
    run("cut", "cancelled")
    assert db.latest_session("sarah").session_id == "cut"
    run("failed", "error")
    run("failed", "error")
    assert db.latest_session("sarah").session_id == "cut"
    db.ensure_session("sarah", "empty")  # no run at all: a session started by hand
    assert db.latest_session("sarah").session_id == "empty"


def test_discard_failed_keeps_a_session_with_any_other_run(db):
    for session_id, statuses in (
        ("only-errors", ["error", "error"]),
        ("mixed", ["completed", "error"]),
    ):
        for status in statuses:
            _, started = db.begin_run("sarah", session_id, "x", "m", "test")
            db.finish_run(started.pk, status=status)
    assert discard_failed(db, "sarah", "only-errors") is True
    assert discard_failed(db, "sarah", "mixed") is False
    assert discard_failed(db, "sarah", "never") is False
    assert [s.session_id for s in db.list_sessions("sarah")] == ["mixed"]


def test_refused_tools_are_said_once_across_processes(run_cli, monkeypatch):
    from chat_server import ChatServer, Quirks

    with ChatServer(quirks=Quirks(no_tools=True)) as server:
        env = {"OPENAI_BASE_URL": server.url}
        server.script(Text("Hello Sarah."), Text("Hello again."))
        first = run_cli("chat", "My name is Sarah.", env=env)
        second = run_cli("chat", "Hi!", env=env)  # another process, another session
    assert (first.returncode, second.returncode) == (0, 0)
    warned = [line for line in first.stderr.decode().splitlines() if "warning" in line]
    assert warned == [
        f"agentcli: warning: model call to {server.url} failed: HTTP 500 tools param requires "
        "--jinja flag; continuing without memory tools, as will later runs with this model; "
        "--memory automatic saves memories without tools"
    ]
    assert "warning" not in second.stderr.decode()
    assert ["tools" in r for r in server.requests] == [True, False, False]
