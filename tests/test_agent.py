import pytest
from chat_server import Drop, Error, Text

from agentcli import Agent, OpenAIChat
from agentcli.core.errors import ModelError, UsageError


def contents(request):
    return [(m["role"], m["content"]) for m in request["messages"]]


def test_run_returns_content_and_ids(agent, server):
    server.script(Text("Hello Sarah"))
    result = agent.run("hi", user_id="sarah", session_id="thread-42")
    assert (result.content, result.user_id, result.session_id) == (
        "Hello Sarah",
        "sarah",
        "thread-42",
    )
    assert len(result.run_id) == 32
    assert result.usage.input_tokens > 0 and result.usage.output_tokens == 2


def test_second_run_carries_the_first(agent, server):
    agent.run("My name is Sarah.", user_id="sarah", session_id="t")
    agent.run("What is my name?", user_id="sarah", session_id="t")
    assert contents(server.requests[1])[1:] == [
        ("user", "My name is Sarah."),
        ("assistant", "echo: My name is Sarah."),
        ("user", "What is my name?"),
    ]


def test_history_window_carries_exactly_the_last_runs(model, db, server):
    agent = Agent(model=model, db=db, num_history_runs=2)
    for i in range(1, 6):
        agent.run(f"m{i}", user_id="u", session_id="s")
    agent.run("m6", user_id="u", session_id="s")
    users = [c for r, c in contents(server.requests[-1]) if r == "user"]
    assert users == ["m4", "m5", "m6"]


def test_same_session_id_of_two_users_never_mixes(agent, server):
    agent.run("sarah secret", user_id="sarah", session_id="thread-42")
    agent.run("bob here", user_id="bob", session_id="thread-42")
    assert "sarah secret" not in str(server.requests[1])


def test_history_off(model, db, server):
    agent = Agent(model=model, db=db, add_history_to_context=False)
    agent.run("one", user_id="u", session_id="s")
    agent.run("two", user_id="u", session_id="s")
    assert contents(server.requests[1])[1:] == [("user", "two")]


def test_instructions_are_the_system_message(model, db, server):
    Agent(model=model, db=db, instructions="Talk like a pirate.").run(
        "hi", user_id="u", session_id="s"
    )
    assert server.requests[0]["messages"][0] == {"role": "system", "content": "Talk like a pirate."}


def test_failed_call_keeps_the_message_as_error_and_out_of_context(agent, server, db):
    server.script(Error(400, "bad request"))
    with pytest.raises(ModelError, match="HTTP 400"):
        agent.run("keep me", user_id="u", session_id="s")
    assert db.execute("SELECT status FROM runs").fetchall() == [("error",)]
    assert db.execute("SELECT content FROM messages").fetchall() == [("keep me",)]
    agent.run("next", user_id="u", session_id="s")
    assert "keep me" not in str(server.requests[-1])


def test_transient_failures_are_retried(agent, server):
    server.script(Error(500), Error(503), Error(429), Text("finally"))
    assert agent.run("x", user_id="u", session_id="s").content == "finally"
    assert len(server.requests) == 4


def test_dropped_connection_before_any_text_is_retried(agent, server):
    server.script(Drop(), Text("ok"))
    assert agent.run("x", user_id="u", session_id="s").content == "ok"


def test_retries_give_up_after_max_attempts(server, db):
    model = OpenAIChat("m", base_url=server.url, retry_delay=0.01, max_attempts=3)
    server.script(Error(500), Error(500), Error(500), Text("never"))
    with pytest.raises(ModelError, match="after 3 attempts"):
        Agent(model=model, db=db).run("x", user_id="u", session_id="s")


def test_non_streaming(server, db):
    model = OpenAIChat("m", base_url=server.url, stream=False)
    server.script(Text("whole"))
    result = Agent(model=model, db=db).run("x", user_id="u", session_id="s")
    assert result.content == "whole"
    assert "stream" not in server.requests[0] or not server.requests[0]["stream"]


def test_a_whole_answer_gives_its_text_usage_model_and_finish_reason(server):
    model = OpenAIChat("m", base_url=server.url, stream=False)
    server.script(Text("whole answer", finish_reason="length"))
    response = model.complete([{"role": "user", "content": "hello there"}])
    assert (response.content, response.finish_reason, response.model) == (
        "whole answer",
        "length",
        "m",
    )
    assert (response.usage.input_tokens, response.usage.output_tokens) == (2, 3)


def test_empty_message_calls_no_model(agent, server):
    with pytest.raises(UsageError):
        agent.run("   ", user_id="u", session_id="s")
    assert server.requests == []


def test_run_records_usage_model_and_duration(agent, server, db):
    agent.run("x", user_id="u", session_id="s")
    status, model, tin, tout, ms = db.execute(
        "SELECT status, model, input_tokens, output_tokens, duration_ms FROM runs"
    ).fetchone()
    assert (status, model) == ("completed", "test-model")
    assert tin > 0 and tout > 0 and ms >= 0


def test_streamed_text_reaches_the_callback(agent, server):
    server.script(Text("a" * 20, chunk=5))
    pieces = []
    agent.run("x", user_id="u", session_id="s", on_text=pieces.append)
    assert pieces == ["a" * 5] * 4


def test_a_model_without_tool_use_is_answered_without_tools(model, db, server):
    warnings = []
    agent = Agent(model=model, db=db, enable_agentic_memory=True, on_warning=warnings.append)
    server.script(Error(400, "llama2 does not support tools"), Text("plain answer"))
    assert agent.run("hi", user_id="u", session_id="s").content == "plain answer"
    assert "tools" in server.requests[0] and "tools" not in server.requests[1]
    assert warnings == [
        f"model call to {server.url} failed: HTTP 400 llama2 does not support tools; "
        "continuing without memory tools"
    ]
    agent.run("again", user_id="u", session_id="s")
    assert "tools" not in server.requests[2]


def test_a_400_unrelated_to_tools_still_fails(model, db, server):
    agent = Agent(model=model, db=db, enable_agentic_memory=True)
    server.script(Error(400, "context length exceeded"))
    with pytest.raises(ModelError, match="context length exceeded"):
        agent.run("hi", user_id="u", session_id="s")


# -- cancellation from another thread and follow-up work on an executor ----------------
def stored(db):
    return db.execute(
        "SELECT r.status, r.error, m.role, m.content FROM messages m "
        "JOIN runs r ON r.id = m.run_pk ORDER BY m.run_pk, m.seq"
    ).fetchall()


def test_a_cancellation_stops_the_run_at_the_next_piece_and_keeps_what_arrived(agent, server, db):
    from agentcli.core.cancel import Cancellation
    from agentcli.core.errors import RunCancelled

    server.script(Text("Once upon a time", chunk=5))
    cancel = Cancellation()

    def cancel_after_two(text, seen=[]):  # noqa: B006 - the pieces seen so far
        seen.append(text)
        if len(seen) == 2:
            cancel.cancel()

    with pytest.raises(RunCancelled):
        agent.run("story", user_id="u", session_id="s", on_text=cancel_after_two, cancel=cancel)
    assert stored(db) == [
        ("cancelled", "cancelled by the user", "user", "story"),
        ("cancelled", "cancelled by the user", "assistant", "Once upon "),
    ]


def test_a_cancellation_can_store_the_run_as_interrupted(agent, server, db):
    from agentcli.core.cancel import Cancellation
    from agentcli.core.errors import RunCancelled

    cancel = Cancellation()
    cancel.cancel("interrupted", "the server stopped")
    cancel.cancel()  # the first request stands
    with pytest.raises(RunCancelled):
        agent.run("hi", user_id="u", session_id="s", cancel=cancel)
    assert stored(db) == [("interrupted", "the server stopped", "user", "hi")]
    assert server.requests == []


def test_follow_up_work_of_a_background_run_goes_to_the_executor(model, db, server):
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from agentcli.core.events import FollowUpDone

    threads = []

    def sink(event):
        if isinstance(event, FollowUpDone):
            threads.append(threading.current_thread().name)

    with ThreadPoolExecutor(1, thread_name_prefix="after") as pool:
        agent = Agent(model=model, db=db, executor=pool)
        agent.run("hi", user_id="u", session_id="s", background=True, on_event=sink)
    assert [name.startswith("after") for name in threads] == [True]
    assert agent._worker is None


def test_a_variant_sends_its_own_model_and_sampling_on_the_same_client(model, server):
    variant = model.variant(id="other-model", temperature=0.2, max_tokens=50)
    variant.complete([{"role": "user", "content": "hi"}])
    model.complete([{"role": "user", "content": "hi"}])
    sent = [(r["model"], r.get("temperature"), r.get("max_tokens")) for r in server.requests]
    assert sent == [("other-model", 0.2, 50), ("test-model", None, None)]
    assert variant.client() is model.client()
