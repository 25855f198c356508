"""Model faults: retries with backoff, cut streams, timeouts and malformed answers."""

import json
import sqlite3

import pytest
from chat_server import ChatServer, Drop, Error, Hang, Raw, Text, ToolCalls
from reliability_model import manager, scripted
from scripted_model import Cut, Fail, ScriptedModel

from agentcli import Agent, OpenAIChat, SqliteDb
from agentcli.adapters.openai_chat import PartialResponseError
from agentcli.core.errors import ModelError, RunCancelled


def stored(db):
    return db.execute(
        "SELECT r.status, m.role, m.content FROM messages m JOIN runs r ON r.id = m.run_pk "
        "ORDER BY m.run_pk, m.seq"
    ).fetchall()


def sse(*chunks) -> bytes:
    """An SSE body from chunk dicts (or raw strings), ended by [DONE]."""
    lines = [c if isinstance(c, str) else json.dumps(c) for c in chunks]
    return "".join(f"data: {line}\n\n" for line in [*lines, "[DONE]"]).encode()


def chunk(delta: dict, finish: str | None = None) -> dict:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return {"id": "c", "object": "chat.completion.chunk", "created": 1, "choices": [choice]}


@pytest.fixture(params=[False, True], ids=["close-delimited", "chunked"])
def any_server(request, monkeypatch):
    """The scripted server with both ways of ending a streamed body."""
    with ChatServer(chunked=request.param) as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.url)
        yield srv


@pytest.fixture
def sleeps(monkeypatch):
    """The delays the model client waits between attempts."""
    import agentcli.adapters.openai_chat

    waited = []
    monkeypatch.setattr(agentcli.adapters.openai_chat.time, "sleep", waited.append)
    return waited


# -- retries ------------------------------------------------------------------
def test_429_500_503_are_retried_with_growing_delays(server, db, sleeps):
    model = OpenAIChat("m", base_url=server.url, retry_delay=0.1, max_attempts=4)
    plain = {}
    server.script(Error(429, headers=plain), Error(500, headers=plain), Error(503, headers=plain))
    assert Agent(model=model, db=db).run("x", user_id="u", session_id="s").content == "echo: x"
    assert (len(server.requests), len(sleeps)) == (4, 3)
    # 0.1 s doubling each time, with up to ±20 % jitter.
    assert all(0.8 <= wait / (0.1 * 2**i) <= 1.2 for i, wait in enumerate(sleeps))


def test_a_retry_after_header_sets_the_delay(server, db, sleeps):
    server.script(Error(429, headers={"retry-after-ms": "250"}))
    model = OpenAIChat("m", base_url=server.url)
    Agent(model=model, db=db).run("x", user_id="u", session_id="s")
    assert sleeps == [0.25]


def test_retrying_stops_when_the_next_wait_would_pass_the_time_budget(server, db, sleeps):
    server.script(Error(503, headers={"retry-after": "10"}))
    model = OpenAIChat("m", base_url=server.url, max_retry_seconds=5)
    with pytest.raises(ModelError, match="HTTP 503 injected failure$"):
        Agent(model=model, db=db).run("x", user_id="u", session_id="s")
    assert (len(server.requests), sleeps) == (1, [])


def test_client_errors_are_not_retried(server, db, sleeps):
    server.script(Error(401, "bad key"))
    with pytest.raises(ModelError, match="HTTP 401 bad key"):
        Agent(model=OpenAIChat("m", base_url=server.url), db=db).run(
            "x", user_id="u", session_id="s"
        )
    assert (len(server.requests), sleeps) == (1, [])


@pytest.mark.parametrize("drop", [Drop(), Drop(streamed=True)], ids=["at-once", "mid-stream"])
def test_a_dropped_connection_before_any_text_is_retried(any_server, db, drop):
    model = OpenAIChat("m", base_url=any_server.url, retry_delay=0.01)
    any_server.script(drop, drop, Text("made it"))
    result = Agent(model=model, db=db).run("x", user_id="u", session_id="s")
    assert (result.content, len(any_server.requests)) == ("made it", 3)


# -- a stream cut after part of the reply ----------------------------------------
def test_a_stream_cut_after_partial_text_is_stored_as_error_with_the_partial_reply(any_server, db):
    model = OpenAIChat("m", base_url=any_server.url, retry_delay=0.01)
    agent = Agent(model=model, db=db)
    any_server.script(Drop(text="Half a rep"))
    with pytest.raises(PartialResponseError) as caught:
        agent.run("tell me", user_id="u", session_id="s")
    assert caught.value.partial == "Half a rep"
    assert len(any_server.requests) == 1  # text was shown: never retried
    assert stored(db) == [("error", "user", "tell me"), ("error", "assistant", "Half a rep")]
    (error,) = db.execute("SELECT error FROM runs").fetchone()
    assert error.startswith(f"model call to {any_server.url} failed: ")


def test_a_cut_stream_through_the_cli_shows_the_partial_reply_and_one_line(
    cli, server, agentcli_home
):
    server.script(Drop(text="Half a rep"))
    out = cli("chat", "-s", "t", "tell me")
    assert (out.exit_code, out.stdout) == (1, "Half a rep\n")
    assert out.stderr == (
        f"agentcli: error: model call to {server.url} failed: the connection closed before "
        "the reply was complete (your message was kept in session t)\n"
    )


# -- a server that never answers ---------------------------------------------------
def test_a_server_that_never_answers_hits_the_timeout_with_one_line(cli, server, agentcli_home):
    server.script(Hang(30))
    out = cli("chat", "-s", "t", "hello?", env={"AGENTCLI_TIMEOUT": "0.5"})
    assert (out.exit_code, out.stdout) == (1, "")
    assert out.stderr == (
        f"agentcli: error: model call to {server.url} failed: no answer within 0.5 s "
        "(your message was kept in session t)\n"
    )
    conn = sqlite3.connect(agentcli_home / "agentcli.db")
    assert conn.execute("SELECT status FROM runs").fetchall() == [("error",)]


def test_the_timeout_also_comes_from_the_config_file(cli, server, agentcli_home):
    agentcli_home.mkdir()
    (agentcli_home / "config.toml").write_text("timeout = 0.5\n")
    server.script(Hang(30))
    out = cli("chat", "-s", "t", "hello?")
    assert "failed: no answer within 0.5 s" in out.stderr


# -- malformed answers ---------------------------------------------------------------
MALFORMED_WHOLE = {
    "not-json": (Raw(b"{not json"), "malformed response (JSONDecodeError)"),
    "html": (Raw(b"<html>oops</html>", "text/html"), "the response has no choices"),
    "no-choices": (Raw(b'{"id": "x", "object": "chat.completion"}'), "the response has no choices"),
    "empty-choices": (Raw(b'{"id": "x", "choices": []}'), "the response has no choices"),
    "choice-without-message": (
        Raw(b'{"id": "x", "choices": [{"index": 0}]}'),
        "malformed response (AttributeError)",
    ),
}


@pytest.mark.parametrize("step,cause", MALFORMED_WHOLE.values(), ids=MALFORMED_WHOLE)
def test_malformed_json_answers_fail_the_run_cleanly(server, db, step, cause):
    model = OpenAIChat("m", base_url=server.url, stream=False)
    server.script(step)
    with pytest.raises(ModelError) as caught:
        Agent(model=model, db=db).run("x", user_id="u", session_id="s")
    assert str(caught.value) == f"model call to {server.url} failed: {cause}"
    assert stored(db) == [("error", "user", "x")]


MALFORMED_STREAMS = {
    "bad-json": (sse("{not json"), "malformed response (JSONDecodeError)", ""),
    "bad-json-after-text": (
        sse(chunk({"content": "Hel"}), "{not json"),
        "malformed response (JSONDecodeError)",
        "Hel",
    ),
    "no-choices": (
        sse({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m"}),
        "the response has no choices",
        "",
    ),
}


@pytest.mark.parametrize("body,cause,partial", MALFORMED_STREAMS.values(), ids=MALFORMED_STREAMS)
def test_malformed_streams_fail_the_run_cleanly(server, db, body, cause, partial):
    server.script(Raw(body, sse=True))
    with pytest.raises(ModelError) as caught:
        Agent(model=OpenAIChat("m", base_url=server.url), db=db).run(
            "x", user_id="u", session_id="s"
        )
    assert str(caught.value) == f"model call to {server.url} failed: {cause}"
    assert stored(db) == [("error", "user", "x")] + (
        [("error", "assistant", partial)] if partial else []
    )


def test_a_stream_without_a_finish_reason_is_retried_like_a_cut(server, db):
    server.script(Raw(sse(chunk({"content": ""})), sse=True), Text("whole"))
    model = OpenAIChat("m", base_url=server.url, retry_delay=0.01)
    assert Agent(model=model, db=db).run("x", user_id="u", session_id="s").content == "whole"


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "whole"])
def test_an_unknown_finish_reason_is_accepted(server, db, stream):
    server.script(Text("odd but fine", finish_reason="galaxy_brain"))
    model = OpenAIChat("m", base_url=server.url, stream=stream)
    result = Agent(model=model, db=db).run("x", user_id="u", session_id="s")
    assert result.content == "odd but fine"
    assert stored(db)[-1] == ("completed", "assistant", "odd but fine")


def test_malformed_answers_through_the_cli_are_one_line_and_exit_1(cli, server):
    server.script(Raw(sse("{not json"), sse=True))
    out = cli("chat", "-s", "t", "x")
    assert out.exit_code == 1
    assert out.stderr == (
        f"agentcli: error: model call to {server.url} failed: malformed response "
        "(JSONDecodeError) (your message was kept in session t)\n"
    )


# -- a run interrupted while the reply streams ------------------------------------------
def test_ctrl_c_while_a_reply_streams_keeps_the_shown_part_as_cancelled(agent, server, db):
    server.script(Text("Once upon a time", chunk=5))
    seen = []

    def interrupt_after_two(text):
        seen.append(text)
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(RunCancelled):
        agent.run("story", user_id="u", session_id="s", on_text=interrupt_after_two)
    assert stored(db) == [("cancelled", "user", "story"), ("cancelled", "assistant", "Once upon ")]


def test_an_interrupted_later_round_keeps_only_its_own_partial_text():
    from agentcli.services.agent import _unfinished

    first = {"role": "assistant", "content": "Let me look.", "tool_calls": [{"id": "c"}]}
    done = [first, {"role": "tool", "tool_call_id": "c", "content": "42"}]
    assert _unfinished(["Let me", " look.", "It is", " 4"], done) == ["It is 4"]
    assert _unfinished(["Let me", " look."], done) == [""]


# -- follow-up work that fails: one warning, the run and its reply stand ------------
# Automatic memory, and windows small enough that the second run of a session folds.
FOLLOWING = dict(
    update_memory_on_run=True,
    enable_session_summaries=True,
    num_history_runs=1,
    summary_batch_runs=1,
)
CLOSED = "the connection closed before the reply was complete"
FAILURES = {
    "manager-refused": (
        "memory",
        Fail("no memories today"),
        "memory update failed: no memories today",
    ),
    "manager-cut": ("memory", Cut("add_mem"), f"memory update failed: {CLOSED}"),
    "fold-refused": ("summary", Fail("no summaries today"), "summary failed: no summaries today"),
    "fold-cut": ("summary", Cut("- one"), f"summary failed: {CLOSED}"),
}


@pytest.mark.parametrize("purpose,failure,warning", FAILURES.values(), ids=FAILURES)
def test_failing_follow_up_work_only_warns(db, purpose, failure, warning):
    model, warnings = ScriptedModel(memory=manager), []
    agent = Agent(model=model, db=db, on_warning=warnings.append, **FOLLOWING)
    agent.run("one", user_id="u", session_id="t")
    # The second run: its reply, its manager call, then its fold.
    model.script(failure, purpose=purpose)
    result = agent.run("two", user_id="u", session_id="t")
    assert (result.content, warnings) == ("echo: two", [warning])
    assert db.execute("SELECT status FROM runs").fetchall() == [("completed",)] * 2
    assert db.execute(  # (no parameters: the same SQL on both backends)
        f"SELECT status FROM model_calls WHERE purpose = '{purpose}' ORDER BY id DESC LIMIT 1"
    ).fetchone() == ("error",)
    # The other part of the follow-up work was done all the same.
    if purpose == "memory":
        assert (result.memory_changes, agent.get_session_summary(user_id="u", session_id="t")) == (
            [],
            "- one",
        )
    else:
        assert result.memory_changes == ["memory added: User said two."]
        assert agent.get_session_summary(user_id="u", session_id="t") is None


# End to end through the command: each failure is one warning line, and the run
# and its reply stand (a fold's failure comes before the run's memory notice).
FOLLOW_UP = {
    "AGENTCLI_MEMORY": "automatic",
    "AGENTCLI_HISTORY_RUNS": "1",
    "AGENTCLI_SUMMARY_BATCH": "1",
    "AGENTCLI_TIMEOUT": "0.5",
}
COMMAND_FAILURES = {
    "manager-refused": (
        "memory update",
        Error(400, "no memories today"),
        "HTTP 400 no memories today",
    ),
    "manager-hangs": ("memory update", Hang(5), "no answer within 0.5 s"),
    "manager-cut": (
        "memory update",
        Drop(text="add_mem"),
        "the connection closed before the reply was complete",
    ),
    "fold-refused": ("summary", Error(400, "no summaries today"), "HTTP 400 no summaries today"),
    "fold-hangs": ("summary", Hang(5), "no answer within 0.5 s"),
}


@pytest.mark.parametrize("part,failure,cause", COMMAND_FAILURES.values(), ids=COMMAND_FAILURES)
def test_failing_follow_up_work_in_the_command_is_one_warning_line(
    cli, server, agentcli_home, part, failure, cause
):
    server.default = scripted
    assert cli("chat", "-s", "t", "one", env=FOLLOW_UP).exit_code == 0
    # The second run: its reply, its manager call, then its fold.
    steps = [scripted, failure] if part == "memory update" else [scripted, scripted, failure]
    server.script(*steps)
    out = cli("chat", "-s", "t", "two", env=FOLLOW_UP)
    notice = "memory added: User said two.\n" if part == "summary" else ""
    assert (out.exit_code, out.stdout, out.stderr) == (
        0,
        "echo: two\n",
        f"agentcli: warning: {part} failed: model call to {server.url} failed: {cause}\n" + notice,
    )
    assert [r.purpose for r in server.requests] == ["chat", "memory", "chat", "memory", "summary"]
    conn = sqlite3.connect(agentcli_home / "agentcli.db")
    assert conn.execute("SELECT status FROM runs").fetchall() == [("completed",)] * 2
    purpose = "memory" if part == "memory update" else "summary"
    assert conn.execute(
        "SELECT status FROM model_calls WHERE purpose = ? ORDER BY id DESC LIMIT 1", (purpose,)
    ).fetchone() == ("error",)
    conn.close()


def test_a_cut_reply_shows_as_error_and_is_never_folded_or_remembered(cli, agentcli_home):
    model = ScriptedModel(memory=manager)
    db = SqliteDb(agentcli_home / "agentcli.db")
    agent = Agent(model=model, db=db, **FOLLOWING)
    agent.run("one", user_id="tester", session_id="t")
    model.script(Cut("Half a rep"))
    with pytest.raises(PartialResponseError):
        agent.run("zebra", user_id="tester", session_id="t")
    cut = len(model.requests)
    for text in ("three", "four"):
        agent.run(text, user_id="tester", session_id="t")
    assert [m.memory for m in db.list_memories("tester")] == [
        f"User said {t}." for t in ("one", "three", "four")
    ]
    db.close()
    # No later request (chat, memory manager or fold) carried the cut run.
    later = json.dumps(model.requests[cut:])
    assert "Half a rep" not in later and "zebra" not in later
    assert {r.purpose for r in model.requests[cut:]} == {"chat", "memory", "summary"}

    shown = cli("sessions", "show", "t").stdout.split("\n\n")
    at = next(i for i, block in enumerate(shown) if block.endswith("\nzebra"))
    assert shown[at].startswith("user · ") and shown[at].endswith("Z · error\nzebra")
    assert shown[at + 1].startswith("assistant · ")
    assert shown[at + 1].endswith("\nHalf a rep")
    document = json.loads(cli("sessions", "show", "t", "--json").stdout)
    assert [(m["content"], m["status"]) for m in document["messages"][2:4]] == [
        ("zebra", "error"),
        ("Half a rep", "error"),
    ]
    assert document["summary"] == "- one\n- three"


TOO_MUCH = "error: arguments are not valid JSON (too large or too deeply nested)"
MISTAKES = {
    "id-beyond-sqlite": ('{"memory_id": ' + "9" * 30 + "}", f"error: no memory {'9' * 30}"),
    "id-of-5000-digits": ('{"memory_id": ' + "9" * 5000 + "}", TOO_MUCH),
    "nested-100000-deep": ("[" * 100_000 + "]" * 100_000, TOO_MUCH),
}


@pytest.mark.parametrize("arguments,error", MISTAKES.values(), ids=MISTAKES)
def test_tool_arguments_a_model_gets_badly_wrong_never_fail_the_run(scripted, db, arguments, error):
    agent = Agent(model=scripted, db=db, enable_agentic_memory=True)
    scripted.script(ToolCalls([("delete_memory", arguments)]), Text("Sorry."))
    assert agent.run("forget it", user_id="u", session_id="s").content == "Sorry."
    assert scripted.requests[1].tool_results() == [error]
