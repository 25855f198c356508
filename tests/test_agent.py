"""The Agent with the in-process scripted model: context, persistence, failures, events."""

import threading

import pytest
from scripted_model import Cut, Fail, Text, ToolCalls

from agentcli import Agent
from agentcli.core.errors import ModelError, PartialResponseError, ToolsRejectedError, UsageError
from agentcli.core.events import (
    FollowUpDone,
    MemoryChanged,
    RunCompleted,
    RunStarted,
    SummaryUpdated,
    TextDelta,
    ToolCallEvent,
    ToolResultEvent,
    Warning,
    event_name,
)
from agentcli.services.agent import TOOLS_REFUSED_HINT


@pytest.fixture
def agent(scripted, db):
    return Agent(model=scripted, db=db)


def stored(db):
    return db.execute(
        "SELECT r.status, m.role, m.content FROM messages m JOIN runs r ON r.id = m.run_pk "
        "ORDER BY m.run_pk, m.seq"
    ).fetchall()


def test_run_returns_content_and_ids(agent, scripted):
    scripted.script(Text("Hello Sarah"))
    result = agent.run("hi", user_id="sarah", session_id="thread-42")
    assert (result.content, result.user_id, result.session_id) == (
        "Hello Sarah",
        "sarah",
        "thread-42",
    )
    assert len(result.run_id) == 32
    assert result.usage.input_tokens > 0 and result.usage.output_tokens == 2


def test_a_run_is_one_chat_call(agent, scripted):
    agent.run("hi", user_id="u", session_id="s")
    [request] = scripted.requests
    assert (request.purpose, request.stream, request.tools) == ("chat", True, None)


def test_second_run_carries_the_first(agent, scripted):
    agent.run("My name is Sarah.", user_id="sarah", session_id="t")
    agent.run("What is my name?", user_id="sarah", session_id="t")
    assert scripted.requests[1].pairs() == [
        ("user", "My name is Sarah."),
        ("assistant", "echo: My name is Sarah."),
        ("user", "What is my name?"),
    ]


def test_history_window_carries_exactly_the_last_runs(scripted, db):
    agent = Agent(model=scripted, db=db, num_history_runs=2)
    for i in range(1, 6):
        agent.run(f"m{i}", user_id="u", session_id="s")
    agent.run("m6", user_id="u", session_id="s")
    users = [c for r, c in scripted.requests[-1].pairs() if r == "user"]
    assert users == ["m4", "m5", "m6"]


def test_same_session_id_of_two_users_never_mixes(agent, scripted):
    agent.run("sarah secret", user_id="sarah", session_id="thread-42")
    agent.run("bob here", user_id="bob", session_id="thread-42")
    assert "sarah secret" not in str(scripted.requests[1])


def test_history_off(scripted, db):
    agent = Agent(model=scripted, db=db, add_history_to_context=False)
    agent.run("one", user_id="u", session_id="s")
    agent.run("two", user_id="u", session_id="s")
    assert scripted.requests[1].pairs() == [("user", "two")]


def test_instructions_are_the_system_message(scripted, db):
    Agent(model=scripted, db=db, instructions="Talk like a pirate.").run(
        "hi", user_id="u", session_id="s"
    )
    assert scripted.requests[0].messages[0] == {"role": "system", "content": "Talk like a pirate."}


def test_failed_call_keeps_the_message_as_error_and_out_of_context(agent, scripted, db):
    scripted.script(Fail("bad request"))
    with pytest.raises(ModelError, match="^bad request$"):
        agent.run("keep me", user_id="u", session_id="s")
    assert db.execute("SELECT status, error FROM runs").fetchall() == [("error", "bad request")]
    assert db.execute("SELECT content FROM messages").fetchall() == [("keep me",)]
    agent.run("next", user_id="u", session_id="s")
    assert "keep me" not in str(scripted.requests[-1])


def test_an_unexpected_failure_is_stored_as_error_under_its_type(agent, scripted, db):
    scripted.script(Fail("boom", RuntimeError))
    with pytest.raises(RuntimeError):
        agent.run("x", user_id="u", session_id="s")
    assert db.execute("SELECT status, error FROM runs").fetchall() == [("error", "RuntimeError")]


def test_empty_message_calls_no_model(agent, scripted):
    with pytest.raises(UsageError):
        agent.run("   ", user_id="u", session_id="s")
    assert scripted.requests == []


def test_run_records_usage_model_and_duration(agent, db):
    agent.run("x", user_id="u", session_id="s")
    status, model, tin, tout, ms = db.execute(
        "SELECT status, model, input_tokens, output_tokens, duration_ms FROM runs"
    ).fetchone()
    assert (status, model) == ("completed", "test-model")
    assert tin > 0 and tout > 0 and ms >= 0


def test_streamed_text_reaches_the_callback(agent, scripted):
    scripted.script(Text("a" * 20, chunk=5))
    pieces = []
    agent.run("x", user_id="u", session_id="s", on_text=pieces.append)
    assert pieces == ["a" * 5] * 4


# -- a reply cut or interrupted part way -------------------------------------------
def test_a_cut_reply_is_stored_as_error_with_the_partial_text(agent, scripted, db):
    scripted.script(Cut("Half a rep"))
    with pytest.raises(PartialResponseError) as caught:
        agent.run("tell me", user_id="u", session_id="s")
    assert caught.value.partial == "Half a rep"
    assert stored(db) == [("error", "user", "tell me"), ("error", "assistant", "Half a rep")]


def test_a_cut_run_stays_out_of_later_context(agent, scripted):
    agent.run("kept", user_id="u", session_id="s")
    scripted.script(Cut("Half a rep"))
    with pytest.raises(PartialResponseError):
        agent.run("cut", user_id="u", session_id="s")
    agent.run("next", user_id="u", session_id="s")
    assert [c for _, c in scripted.requests[-1].pairs()] == ["kept", "echo: kept", "next"]


def test_ctrl_c_while_a_reply_streams_keeps_the_shown_part_as_cancelled(agent, scripted, db):
    from agentcli.core.errors import RunCancelled

    scripted.script(Text("Once upon a time", chunk=5))
    seen = []

    def interrupt_after_two(text):
        seen.append(text)
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(RunCancelled):
        agent.run("story", user_id="u", session_id="s", on_text=interrupt_after_two)
    assert stored(db) == [("cancelled", "user", "story"), ("cancelled", "assistant", "Once upon ")]


# -- tools ----------------------------------------------------------------------------
def test_a_model_without_tool_use_is_answered_without_tools(scripted, db):
    warnings = []
    agent = Agent(model=scripted, db=db, enable_agentic_memory=True, on_warning=warnings.append)
    scripted.script(Fail("llama2 does not support tools", ToolsRejectedError), Text("plain"))
    assert agent.run("hi", user_id="u", session_id="s").content == "plain"
    assert [r.tools is not None for r in scripted.requests] == [True, False]
    assert warnings == [f"llama2 does not support tools; {TOOLS_REFUSED_HINT}"]
    agent.run("again", user_id="u", session_id="s")
    assert scripted.requests[2].tools is None


def test_a_model_error_while_tools_are_offered_still_fails(scripted, db):
    agent = Agent(model=scripted, db=db, enable_agentic_memory=True)
    scripted.script(Fail("context length exceeded"))
    with pytest.raises(ModelError, match="context length exceeded"):
        agent.run("hi", user_id="u", session_id="s")
    assert len(scripted.requests) == 1


def test_tool_call_arguments_that_are_not_json_go_back_to_the_model_as_an_error(agent, scripted):
    from agentcli.core.tools import Tool, Toolbox

    notes = []
    toolbox = Toolbox(
        [Tool("note", "Keep a note.", {"type": "object"}, lambda text: notes.append(text) or "ok")]
    )
    scripted.script(ToolCalls([("note", '{"text": "unterminated')]), Text("sorry"))
    events = []
    from agentcli.core.context import Context
    from agentcli.services.fitting import Fit

    fitted = Fit(Context(message="x"), max_tokens=100, tokens=10)
    response, _ = agent._answer(fitted, toolbox, lambda t: None, [], events.append)
    assert scripted.requests[1].tool_results()[0].startswith("error: arguments are not valid JSON")
    assert (response.content, notes) == ("sorry", [])
    assert [type(e) for e in events] == [ToolCallEvent, ToolResultEvent]


def test_tool_calls_that_were_not_offered_are_dropped_and_the_run_completes(agent, scripted, db):
    scripted.script(ToolCalls([("rm_rf", "{{{not json")], text="Hmm."))
    result = agent.run("x", user_id="u", session_id="s")
    assert result.content == "Hmm."
    assert stored(db) == [("completed", "user", "x"), ("completed", "assistant", "Hmm.")]


def test_tool_rounds_stop_at_the_limit_with_a_last_call_without_tools(scripted, db):
    agent = Agent(model=scripted, db=db, enable_agentic_memory=True, max_tool_rounds=2)
    search = ToolCalls([("search_memories", {"query": "x"})])
    scripted.script(search, search, ToolCalls([("search_memories", {"query": "x"})], "Done."))
    assert agent.run("x", user_id="u", session_id="s").content == "Done."
    assert [r.tools is not None for r in scripted.requests] == [True, True, False]


# -- events -----------------------------------------------------------------------------
def test_a_run_reports_its_events_in_order(agent, scripted):
    scripted.script(Text("Hello there", chunk=6))
    events = []
    result = agent.run("hi", user_id="u", session_id="s", on_event=events.append)
    assert events == [
        RunStarted(result.run_id, "s", "u"),
        TextDelta("Hello "),
        TextDelta("there"),
        RunCompleted(result),
        FollowUpDone(result.run_id),
    ]
    assert [event_name(e) for e in events] == [
        "run_started",
        "content",
        "content",
        "run_completed",
        "follow_up_done",
    ]


def test_tool_calls_memory_changes_and_folds_are_events(scripted, db):
    agent = Agent(
        model=scripted,
        db=db,
        enable_agentic_memory=True,
        enable_session_summaries=True,
        num_history_runs=1,
        summary_batch_runs=1,
    )
    agent.run("one", user_id="u", session_id="s")
    scripted.script(ToolCalls([("add_memory", {"memory": "U keeps bees."})]), Text("Noted."))
    events = []
    result = agent.run("two", user_id="u", session_id="s", on_event=events.append)
    kinds = [type(e) for e in events]
    assert kinds == [
        RunStarted,
        ToolCallEvent,
        ToolResultEvent,
        TextDelta,
        MemoryChanged,
        RunCompleted,
        SummaryUpdated,
        FollowUpDone,
    ]
    assert events[2] == ToolResultEvent("add_memory", "added memory 1")
    assert events[4] == MemoryChanged("memory added: U keeps bees.", "agent")
    first = db.execute("SELECT run_id FROM runs ORDER BY id LIMIT 1").fetchone()[0]
    assert events[6] == SummaryUpdated("s", first)
    assert events[-1] == FollowUpDone(result.run_id)


def test_failing_follow_up_work_is_a_warning_event(scripted, db):
    agent = Agent(model=scripted, db=db, update_memory_on_run=True)
    scripted.script(Fail("no memories today"), purpose="memory")
    events = []
    result = agent.run("hi", user_id="u", session_id="s", on_event=events.append)
    assert events[-2:] == [
        Warning("memory update failed: no memories today"),
        FollowUpDone(result.run_id),
    ]


def test_the_agents_own_sink_gets_the_events_of_every_run(scripted, db):
    events = []
    agent = Agent(model=scripted, db=db, on_event=events.append)
    agent.run("hi", user_id="u", session_id="s")
    assert [type(e) for e in events] == [RunStarted, TextDelta, RunCompleted, FollowUpDone]


def test_background_follow_up_work_runs_on_another_thread_until_wait(scripted, db):
    agent = Agent(model=scripted, db=db, update_memory_on_run=True)
    release, threads = threading.Event(), []

    def slow_manager(request):
        threads.append(threading.current_thread())
        release.wait(10)
        return ToolCalls([("add_memory", {"memory": "U likes tea."})])

    scripted.default["memory"] = slow_manager
    events = []
    result = agent.run(
        "I like tea", user_id="u", session_id="s", on_event=events.append, background=True
    )
    assert result.memory_changes == [] and FollowUpDone(result.run_id) not in events
    release.set()
    agent.wait()
    assert threads != [threading.current_thread()] and len(threads) == 1
    assert events[-2:] == [
        MemoryChanged("memory added: U likes tea.", "manager"),
        FollowUpDone(result.run_id),
    ]
    assert [m.memory for m in db.list_memories("u")] == ["U likes tea."]


# -- cancellation from another thread and follow-up work on an executor ----------------
def stored_with_errors(db):
    return db.execute(
        "SELECT r.status, r.error, m.role, m.content FROM messages m "
        "JOIN runs r ON r.id = m.run_pk ORDER BY m.run_pk, m.seq"
    ).fetchall()


def test_a_cancellation_stops_the_run_at_the_next_piece_and_keeps_what_arrived(agent, scripted, db):
    from agentcli.core.cancel import Cancellation
    from agentcli.core.errors import RunCancelled

    scripted.script(Text("Once upon a time", chunk=5))
    cancel = Cancellation()

    def cancel_after_two(text, seen=[]):  # noqa: B006 - the pieces seen so far
        seen.append(text)
        if len(seen) == 2:
            cancel.cancel()

    with pytest.raises(RunCancelled):
        agent.run("story", user_id="u", session_id="s", on_text=cancel_after_two, cancel=cancel)
    assert stored_with_errors(db) == [
        ("cancelled", "cancelled by the user", "user", "story"),
        ("cancelled", "cancelled by the user", "assistant", "Once upon "),
    ]


def test_a_cancellation_can_store_the_run_as_interrupted(agent, scripted, db):
    from agentcli.core.cancel import Cancellation
    from agentcli.core.errors import RunCancelled

    cancel = Cancellation()
    cancel.cancel("interrupted", "the server stopped")
    cancel.cancel()  # the first request stands
    with pytest.raises(RunCancelled):
        agent.run("hi", user_id="u", session_id="s", cancel=cancel)
    assert stored_with_errors(db) == [("interrupted", "the server stopped", "user", "hi")]
    assert scripted.requests == []


def test_follow_up_work_of_a_background_run_goes_to_the_executor(scripted, db):
    from concurrent.futures import ThreadPoolExecutor

    threads = []

    def sink(event):
        if isinstance(event, FollowUpDone):
            threads.append(threading.current_thread().name)

    with ThreadPoolExecutor(1, thread_name_prefix="after") as pool:
        agent = Agent(model=scripted, db=db, executor=pool)
        agent.run("hi", user_id="u", session_id="s", background=True, on_event=sink)
    assert [name.startswith("after") for name in threads] == [True]
    assert agent._worker is None
