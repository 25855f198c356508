"""The quirks of real servers (llama.cpp, llama-cpp-python, vLLM, Ollama), as the
scripted server emulates them: context windows, bounded replies, stalls, strict
message shapes, refused tools, missing usage."""

import json
import sqlite3
import time

import pytest
from chat_server import (
    ChatServer,
    Endless,
    Error,
    Quirks,
    Stall,
    Text,
    ToolCalls,
    propose_reply_as_memory,
)

from agentcli import Agent, OpenAIChat
from agentcli.adapters.notes_file import FileNotes
from agentcli.core.errors import (
    ContextLengthError,
    MessageTooLongError,
    ModelError,
    PartialResponseError,
)

FACT = "Sarah prefers email over phone."
SEED = "My name is Sarah and I prefer email over phone."


@pytest.fixture
def quirky(monkeypatch):
    """A scripted server with the given quirks, as OPENAI_BASE_URL."""
    servers = []

    def start(**quirks) -> ChatServer:
        srv = ChatServer(quirks=Quirks(**quirks)).start()
        servers.append(srv)
        monkeypatch.setenv("OPENAI_BASE_URL", srv.url)
        return srv

    yield start
    for srv in servers:
        srv.stop()


def chat_model(server, **kwargs):
    return OpenAIChat("test-model", base_url=server.url, retry_delay=0.01, **kwargs)


def rows(home, sql):
    conn = sqlite3.connect(home / "agentcli.db")
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


# -- the context window ------------------------------------------------------------
def test_the_window_is_read_from_llama_cpp_props_and_kept(quirky, tmp_path):
    server = quirky(n_ctx=4096)
    notes = tmp_path / "endpoints.json"
    first = chat_model(server)
    first.notes = FileNotes(notes, first.note_scope)
    assert first.context_window() == 4096
    again = chat_model(server)
    again.notes = FileNotes(notes, again.note_scope)
    assert (again.context_window(), server.gets.count("/props")) == (4096, 1)


def test_the_window_is_read_from_vllm_model_metadata(quirky, monkeypatch):
    server = quirky()
    monkeypatch.setattr(server.quirks, "props", False)
    model = chat_model(server)
    server.model_info = {"max_model_len": 32768}
    assert model.context_window() == 32768


def test_without_a_reported_window_the_default_is_used(server, db):
    agent = Agent(model=chat_model(server), db=db)
    assert agent.context_window() == 8192


def test_a_message_that_cannot_fit_is_refused_before_any_call(quirky, run_cli, agentcli_home):
    server = quirky(n_ctx=2048)
    out = run_cli("chat", "-s", "t", input="blah " * 8000)
    assert out.returncode == 2
    assert out.stderr.decode() == (
        "agentcli: error: the message is about 13,334 tokens and does not fit the model's "
        "context window of 2,048 tokens (512 of them kept for the reply): shorten it, or set "
        "context_window if the model takes more\n"
    )
    assert server.requests == []
    assert rows(agentcli_home, "SELECT status, error LIKE '%13,334 tokens%' FROM runs") == [
        ("error", 1)
    ]
    out = run_cli("chat", "-s", "t", "What is 2+2?")
    assert (out.returncode, out.stdout.decode()) == (0, "echo: What is 2+2?\n")
    assert "blah" not in json.dumps(server.requests[-1])


def test_history_is_left_out_oldest_first_to_fit(quirky, db):
    server = quirky(n_ctx=2048)
    agent = Agent(model=chat_model(server), db=db)
    for i in range(4):
        agent.run(f"run {i} " + "x" * 700, user_id="u", session_id="s")
    users = [m["content"][:5] for m in server.requests[-1]["messages"] if m["role"] == "user"]
    assert users == ["run 1", "run 2", "run 3"]  # run 0 left out; nothing refused
    assert server.refused == []


def test_with_summaries_the_runs_left_out_are_folded_first(quirky, db):
    server = quirky(n_ctx=2048)
    agent = Agent(model=chat_model(server), db=db, enable_session_summaries=True)
    agent.run("My cat is called Miso. " + "x" * 1500, user_id="u", session_id="s")
    server.script(Text("- The user's cat is called Miso."), Text("Miso!"))
    agent.run("And what is my cat called? " + "y" * 1500, user_id="u", session_id="s")
    fold, chat = server.requests[-2:]
    assert fold.purpose == "summary" and "My cat is called Miso." in fold.messages[1]["content"]
    assert "The user's cat is called Miso." in chat["messages"][0]["content"]
    assert [m["role"] for m in chat["messages"]] == ["system", "user"]


def test_memories_shrink_when_history_is_not_enough(quirky, db):
    server = quirky(n_ctx=1024)
    for i in range(40):
        db.add_memory("u", f"Memory number {i} says something long enough to count.", actor="user")
    agent = Agent(model=chat_model(server), db=db, update_memory_on_run=True)
    server.script(Text("ok"), Text("none"))
    agent.run("hello", user_id="u", session_id="s")
    sent = json.dumps(server.requests[0])
    assert 0 < sent.count("Memory number") < 40 and server.refused == []


def test_a_context_error_is_not_retried_and_the_next_run_fits(quirky, db):
    # The server counts a token per character: three times our estimate.
    server = quirky(n_ctx=1000, chars_per_token=1)
    agent = Agent(model=chat_model(server), db=db)
    agent.run("a" * 400, user_id="u", session_id="s")
    with pytest.raises(ContextLengthError, match="exceeds the available context size") as caught:
        agent.run("b" * 200, user_id="u", session_id="s")
    assert "larger than the model's context window" in str(caught.value)
    assert (len(server.requests), len(server.refused)) == (2, 1)  # one try, no retry
    assert agent.run("What is 2+2?", user_id="u", session_id="s").content == "echo: What is 2+2?"
    assert len(server.refused) == 1


def test_a_context_error_inside_a_stream_is_recognised(quirky, db):
    server = quirky(n_ctx=300, chars_per_token=1, context_error="stream", props=False)
    agent = Agent(model=chat_model(server), db=db, context_window=300)
    with pytest.raises(ContextLengthError, match=r"request \(\d+ tokens\) exceeds"):
        agent.run("c" * 300, user_id="u", session_id="s")
    assert len(server.requests) == 1
    assert db.execute("SELECT status FROM runs").fetchall() == [("error",)]


def test_a_context_error_through_the_cli_is_one_line(quirky, run_cli):
    server = quirky(n_ctx=300, chars_per_token=1)
    out = run_cli("chat", "-s", "t", "--memory", "off", "d" * 300)
    assert out.returncode == 1
    assert out.stderr.decode().startswith(
        f"agentcli: error: model call to {server.url} failed: the request is larger than the "
        "model's context window (HTTP 400 request ("
    )


# -- bounded replies ---------------------------------------------------------------------
def test_every_call_carries_max_tokens(server, db):
    agent = Agent(
        model=chat_model(server), db=db, update_memory_on_run=True, enable_session_summaries=True
    )
    server.script(Text("hi"), Text("none"))
    agent.run("hello", user_id="u", session_id="s")
    server.script(Text("- said hello"))
    agent.summarize_session(user_id="u", session_id="s")
    caps = [(r.purpose, r["max_tokens"]) for r in server.requests]
    assert caps == [("chat", 2048), ("memory", 512), ("summary", 768)]
    assert all(r["stream"] for r in server.requests)  # the manager and folds stream too


def test_a_reply_cut_at_max_tokens_is_stored_completed_with_a_notice(
    run_cli, server, agentcli_home
):
    server.script(Endless("la "))
    out = run_cli("chat", "-s", "t", "--max-tokens", "16", "--json", "sing")
    data = json.loads(out.stdout)
    assert (out.returncode, data["content"], data["finish_reason"]) == (0, "la " * 16, "length")
    assert out.stderr.decode() == (
        "agentcli: warning: reply cut at 16 tokens; --max-tokens raises it\n"
    )
    assert server.requests[0]["max_tokens"] == 16
    assert rows(agentcli_home, "SELECT status FROM runs") == [("completed",)]


def test_max_tokens_from_the_environment_must_be_positive(run_cli, server):
    out = run_cli("chat", "hi", env={"AGENTCLI_MAX_TOKENS": "0"})
    assert (out.returncode, out.stderr.decode()) == (
        2,
        "agentcli: error: max tokens must be 1 to 1,000,000 tokens, got 0 "
        "(from env AGENTCLI_MAX_TOKENS)\n",
    )


# -- timeouts ------------------------------------------------------------------------------
def test_a_stream_kept_alive_by_pings_ends_at_the_stall_limit(server):
    model = chat_model(server, timeout=5, stall_timeout=0.5)
    model.client()  # the SDK loaded: only the call is timed
    server.script(Stall("Thinking", seconds=10, ping=0.05))
    started = time.monotonic()
    with pytest.raises(PartialResponseError, match="the reply stalled: nothing new for 0.5 s$"):
        model.complete([{"role": "user", "content": "x"}])
    assert time.monotonic() - started < 2.5
    time.sleep(0.3)
    assert len(server.client_gone) == 1  # the connection was closed, the server noticed


def test_pings_before_the_first_token_do_not_extend_the_timeout(server):
    model = chat_model(server, timeout=0.6, stall_timeout=30)
    model.client()
    server.script(Stall("", seconds=10, ping=0.05))
    started = time.monotonic()
    with pytest.raises(ModelError, match="no answer within 0.6 s$"):
        model.complete([{"role": "user", "content": "x"}])
    assert time.monotonic() - started < 2.5


def test_the_stall_timeout_must_be_positive(run_cli, server):
    out = run_cli("chat", "hi", env={"AGENTCLI_STALL_TIMEOUT": "0"})
    assert out.returncode == 2
    assert "stall timeout must be more than 0 and at most 86,400 seconds" in out.stderr.decode()


# -- message shapes and retries ------------------------------------------------------------
def test_a_strict_server_accepts_every_message_the_agent_sends(quirky, db):
    server = quirky(strict=True)
    agentic = Agent(model=chat_model(server), db=db, enable_agentic_memory=True)
    server.script(ToolCalls([("add_memory", {"memory": FACT})]), Text("Noted."))
    agentic.run(SEED, user_id="sarah", session_id="s")
    agentic.run("How do I reach you?", user_id="sarah", session_id="s")  # history with a tool call
    automatic = Agent(
        model=chat_model(server), db=db, update_memory_on_run=True, enable_session_summaries=True
    )
    server.script(Text("Hi."), ToolCalls([("search_memories", {"query": "email"})]), Text("none"))
    automatic.run("I live in Oslo.", user_id="sarah", session_id="s")
    automatic.summarize_session(user_id="sarah", session_id="s")
    assert server.refused == [] and len(server.requests) == 7
    assert server.requests[1]["messages"][-2]["content"] == ""  # beside tool_calls, not null


def test_a_500_is_retried_once_at_most(server, db):
    server.script(Error(500), Error(500), Error(500), Text("never"))
    with pytest.raises(ModelError, match="HTTP 500 injected failure \\(after 2 attempts\\)$"):
        Agent(model=chat_model(server), db=db).run("x", user_id="u", session_id="s")


@pytest.mark.parametrize(
    "message",
    ["messages.1.content: Input should be a valid string", "tools param requires --jinja flag"],
)
def test_a_500_saying_the_request_is_wrong_is_not_retried(server, db, message):
    server.script(Error(500, message), Text("never"))
    with pytest.raises(ModelError, match=f"HTTP 500 {message}$"):
        Agent(model=chat_model(server), db=db).run("x", user_id="u", session_id="s")
    assert len(server.requests) == 1


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_statuses_that_can_pass_are_retried(server, db, status):
    server.script(Error(status), Error(status))
    assert Agent(model=chat_model(server), db=db).run("x", user_id="u", session_id="s").content
    assert len(server.requests) == 3


# -- tools ---------------------------------------------------------------------------------
def test_llama_server_without_jinja_warns_once_then_is_remembered(quirky, run_cli):
    server = quirky(no_tools=True)
    first = run_cli("chat", "-s", "t", SEED)
    assert first.returncode == 0
    assert first.stderr.decode() == (
        f"agentcli: warning: model call to {server.url} failed: HTTP 500 tools param requires "
        "--jinja flag; continuing without memory tools, as will later runs with this model; "
        "--memory automatic saves memories without tools\n"
    )
    assert ["tools" in r for r in server.requests] == [True, False]
    second = run_cli("chat", "-s", "t", "And my name?")
    assert (second.returncode, second.stderr.decode()) == (0, "")
    assert ["tools" in r for r in server.requests[2:]] == [False]


def test_without_tools_the_automatic_manager_answers_in_lines(quirky, db):
    server = quirky(no_tools=True)
    agent = Agent(model=chat_model(server), db=db, update_memory_on_run=True)
    server.script(Text("Noted."), Text(f"ADD: {FACT}"))
    result = agent.run(SEED, user_id="sarah", session_id="s")
    assert result.memory_changes == [f"memory added: {FACT}"]
    assert [("tools" in r, r["stream"]) for r in server.requests] == [
        (False, True),
        (True, True),  # refused: tools param requires --jinja flag
        (False, True),
    ]
    lines = "ADD: Sarah lives in Oslo.\nADD: The assistant likes cheese."
    server.script(Text("Noted."), Text(lines))
    result = agent.run("I live in Oslo.", user_id="sarah", session_id="t")
    assert result.memory_changes == [
        "memory added: Sarah lives in Oslo.",
        "memory rejected (not in the user's words): The assistant likes cheese.",
    ]
    assert len(server.requests) == 5  # the refusal is remembered: straight to lines of text


def test_tool_choice_auto_goes_with_every_offer_of_tools(quirky, db):
    server = quirky(tool_choice_needed=True)
    agent = Agent(model=chat_model(server), db=db, enable_agentic_memory=True)
    server.script(ToolCalls([("add_memory", {"memory": FACT})]), Text("Noted."))
    result = agent.run(SEED, user_id="sarah", session_id="s")
    assert result.memory_changes == [f"memory added: {FACT}"]
    assert [r.get("tool_choice") for r in server.requests] == ["auto", "auto"]


@pytest.mark.parametrize("refusal", ["error", "drop"])
def test_a_server_refusing_streamed_tools_gets_whole_answers_said_once(quirky, db, refusal):
    server = quirky(streamed_tools=refusal)
    warnings = []
    model = chat_model(server)
    agent = Agent(model=model, db=db, enable_agentic_memory=True, on_warning=warnings.append)
    server.script(ToolCalls([("add_memory", {"memory": FACT})]), Text("Noted."))
    first = agent.run(SEED, user_id="sarah", session_id="s")
    if refusal == "drop":  # a dropped stream is believed on the second time
        agent.run("I also like tea.", user_id="sarah", session_id="s")
    agent.run("I like green tea.", user_id="sarah", session_id="s")
    assert first.memory_changes == [f"memory added: {FACT}"]
    assert warnings == [
        "this server cannot stream answers that may call tools; "
        "those are asked for whole (not streamed) from now on"
    ]
    assert server.requests[-1].get("stream", False) is False


def test_unused_memory_tools_are_reported_once(server, db):
    warnings = []
    agent = Agent(model=chat_model(server), db=db, enable_agentic_memory=True)
    agent.on_warning = warnings.append
    for fact in ["My name is Sarah.", "I live in Oslo.", "I prefer email.", "I like tea."]:
        agent.run(fact, user_id="sarah", session_id="s")
    assert warnings == [
        "the model called no memory tool in 3 runs that told it about you, so nothing is "
        "being remembered: it may not use tools well; --memory automatic saves memories "
        "without relying on it"
    ]


# -- the automatic manager keeps to the user's words ---------------------------------------
def test_a_memory_taken_from_the_reply_is_rejected_and_counted(run_cli, server, agentcli_home):
    reply = "This phrase is often used in social media marketing to ask users for information."
    server.default = lambda r: propose_reply_as_memory(r) if r.purpose == "memory" else Text(reply)
    out = run_cli("chat", "--memory", "automatic", "--json", "What does 'tell me more' mean?")
    data = json.loads(out.stdout)
    assert (data["memories_rejected"], data["memory_changes"]) == (
        1,
        [f"memory rejected (not in the user's words): {reply}"],
    )
    assert rows(agentcli_home, "SELECT count(*) FROM memories") == [(0,)]


# -- usage -----------------------------------------------------------------------------------
def test_usage_is_estimated_when_the_stream_has_none(quirky, run_cli):
    quirky(stream_usage=False)
    out = run_cli("chat", "--json", "--usage", "hello there")
    usage = json.loads(out.stdout)["usage"]
    assert usage["estimated"] is True and usage["input_tokens"] > 0 and usage["output_tokens"] > 0
    assert out.stderr.decode().endswith(
        f"tokens: {usage['input_tokens']} in, {usage['output_tokens']} out "
        "(estimated: the server sent no counts)\n"
    )


def test_usage_from_the_server_is_not_marked_estimated(run_cli, server):
    usage = json.loads(run_cli("chat", "--json", "hello").stdout)["usage"]
    assert usage["estimated"] is False


# -- the command line --------------------------------------------------------------------------
def test_a_piped_reply_ends_with_a_newline(run_cli, server):
    server.script(Text("no newline at the end"))
    assert run_cli("chat", "hi").stdout == b"no newline at the end\n"


def test_a_base_url_without_v1_gets_a_hint(quirky, run_cli):
    server = quirky(v1_only=True)
    out = run_cli("chat", "-s", "t", "hi", env={"OPENAI_BASE_URL": server.root})
    assert out.returncode == 1
    assert (
        f"HTTP 404 File Not Found (the server answers at {server.root}/v1: set "
        "OPENAI_BASE_URL to that)" in out.stderr.decode()
    )


def test_a_message_too_long_is_a_usage_error(quirky, db):
    server = quirky(n_ctx=512)
    with pytest.raises(MessageTooLongError):
        Agent(model=chat_model(server), db=db).run("z" * 3000, user_id="u", session_id="s")


def test_a_refusal_of_tools_is_believed_for_a_day_then_tried_again(server, db):
    model = chat_model(server)
    model.notes.set("tools_rejected", {"value": "HTTP 500 ...", "at": time.time() - 90_000})
    Agent(model=model, db=db, enable_agentic_memory=True).run("hi", user_id="u", session_id="s")
    assert "tools" in server.requests[0]
    assert model.notes.get("tools_rejected") is None  # the server took them: forgotten


def test_a_window_set_too_large_gives_way_to_the_one_the_server_states(quirky, db):
    server = quirky(n_ctx=600, props=False, chars_per_token=1)
    agent = Agent(model=chat_model(server), db=db, context_window=8192)
    with pytest.raises(ContextLengthError):
        agent.run("e" * 1200, user_id="u", session_id="s")
    again = Agent(model=agent.model, db=db, context_window=8192)
    assert again.context_window() == 600
