import json

import pytest
from scripted_model import Fail, ScriptedModel, Text, ToolCalls

from agentcli import Agent, OpenAIChat
from agentcli.services.memory import KNOWN_HEADING, KNOWN_INTRO, TURN_HEADING, MemoryManager
from agentcli.services.recall import select_memories

SEED = "My name is Sarah and I prefer email over phone."
FACT = "Sarah prefers email over phone."


@pytest.fixture
def agentic(scripted, db):
    return Agent(model=scripted, db=db, enable_agentic_memory=True)


@pytest.fixture
def automatic(scripted, db):
    warnings = []
    agent = Agent(model=scripted, db=db, update_memory_on_run=True, on_warning=warnings.append)
    agent.warnings = warnings
    return agent


def test_agentic_seed_scenario(agentic, scripted):
    scripted.script(
        ToolCalls([("add_memory", {"memory": FACT, "topics": ["contact"]})]), Text("Hi!")
    )
    result = agentic.run(SEED, user_id="sarah", session_id="thread-42")
    assert result.memory_changes == [f"memory added: {FACT}"]
    assert scripted.requests[1].tool_results() == ["added memory 1"]
    agentic.run("What's the best way to reach me?", user_id="sarah", session_id="thread-43")
    assert f"- [1] {FACT}" in scripted.requests[2].system
    agentic.run("What's the best way to reach me?", user_id="bob", session_id="thread-43")
    assert FACT not in json.dumps(scripted.requests[3])


def test_agentic_memory_records_its_session_run_and_actor(agentic, scripted, db):
    scripted.script(ToolCalls([("add_memory", {"memory": FACT})]), Text("Hi!"))
    result = agentic.run(SEED, user_id="sarah", session_id="thread-42")
    memory = db.get_memory("sarah", 1)
    assert (memory.created_session_id, memory.created_run_id) == ("thread-42", result.run_id)
    assert db.execute("SELECT actor, run_id FROM memory_events").fetchall() == [
        ("agent", result.run_id)
    ]


def test_agentic_tools_are_offered_on_every_chat_call(agentic, scripted):
    scripted.script(ToolCalls([("search_memories", {"query": "x"})]), Text("Hi!"))
    agentic.run(SEED, user_id="sarah", session_id="t")
    names = [[t["function"]["name"] for t in r.tools] for r in scripted.requests]
    assert names == [["add_memory", "update_memory", "delete_memory", "search_memories"]] * 2


def test_automatic_seed_scenario(automatic, scripted):
    scripted.script(Text("Noted, Sarah."))
    scripted.script(ToolCalls([("add_memory", {"memory": FACT})]), purpose="memory")
    result = automatic.run(SEED, user_id="sarah", session_id="thread-42")
    assert (result.content, result.memory_changes) == ("Noted, Sarah.", [f"memory added: {FACT}"])
    assert scripted.requests[0].tools is None
    [manager] = scripted.calls("memory")
    assert (
        f"<user>\n{SEED}\n</user>\n<assistant>\nNoted, Sarah.\n</assistant>"
        in (manager.messages[1]["content"])
    )
    automatic.run("What's the best way to reach me?", user_id="sarah", session_id="thread-43")
    assert f"- {FACT}" in scripted.calls("chat")[1].system
    automatic.run("What's the best way to reach me?", user_id="bob", session_id="thread-43")
    assert FACT not in json.dumps(scripted.calls("chat")[2])
    assert automatic.warnings == []


def test_the_manager_is_one_call_after_the_reply_offering_the_memory_tools(automatic, scripted):
    automatic.run(SEED, user_id="sarah", session_id="s")
    assert [r.purpose for r in scripted.requests] == ["chat", "memory"]
    names = [t["function"]["name"] for t in scripted.requests[1].tools]
    assert names == ["add_memory", "update_memory", "delete_memory", "search_memories"]


def test_automatic_call_is_recorded_as_a_memory_model_call(automatic, scripted, db):
    scripted.script(ToolCalls([("add_memory", {"memory": FACT})]), purpose="memory")
    automatic.run(SEED, user_id="sarah", session_id="thread-42")
    assert db.execute(
        "SELECT purpose, status, model, input_tokens > 0, output_tokens FROM model_calls"
    ).fetchall() == [("memory", "completed", "test-model", 1, 10)]
    assert db.execute("SELECT actor FROM memory_events").fetchall() == [("manager",)]


def test_manager_sees_known_memories_with_ids_and_updates_them(automatic, scripted, db):
    db.add_memory("sarah", "Sarah lives in Oslo.", [], actor="user")
    scripted.script(Text("Enjoy Bergen!"))
    scripted.script(
        ToolCalls([("update_memory", {"memory_id": 1, "memory": "Sarah lives in Bergen."})]),
        purpose="memory",
    )
    result = automatic.run("I moved to Bergen.", user_id="sarah", session_id="s")
    assert "- [1] Sarah lives in Oslo." in scripted.calls("memory")[0].messages[1]["content"]
    assert db.get_memory("sarah", 1).memory == "Sarah lives in Bergen."
    assert result.memory_changes == ["memory updated: Sarah lives in Bergen."]


def test_manager_reads_its_tool_errors_in_a_second_call(automatic, scripted):
    scripted.script(
        ToolCalls([("delete_memory", {"memory_id": 5})]),
        Text("none"),
        Text("never asked"),
        purpose="memory",
    )
    automatic.run("Forget my address.", user_id="sarah", session_id="s")
    calls = scripted.calls("memory")
    assert len(calls) == 2 and calls[1].tool_results() == ["error: no memory 5"]


def test_manager_failure_only_warns(automatic, scripted, db):
    scripted.script(Text("Noted."))
    scripted.script(Fail("bad model"), purpose="memory")
    result = automatic.run(SEED, user_id="sarah", session_id="s")
    assert result.content == "Noted."
    assert automatic.warnings == ["memory update failed: bad model"]
    assert db.execute("SELECT purpose, status, error FROM model_calls").fetchall() == [
        ("memory", "error", "bad model")
    ]
    assert db.execute("SELECT status FROM runs").fetchall() == [("completed",)]


def test_memory_model_is_used_for_the_manager(scripted, db):
    manager = ScriptedModel("memory-model")
    agent = Agent(model=scripted, db=db, update_memory_on_run=True, memory_model=manager)
    agent.run("hi", user_id="u", session_id="s")
    assert [r.purpose for r in scripted.requests] == ["chat"]
    assert [r.purpose for r in manager.requests] == ["memory"]
    assert db.execute("SELECT model FROM model_calls").fetchall() == [("memory-model",)]


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "whole"])
def test_agentic_memory_end_to_end_over_http(server, db, stream):
    model = OpenAIChat("m", base_url=server.url, stream=stream)
    agent = Agent(model=model, db=db, enable_agentic_memory=True)
    text = "Sarah's favourite café is Kaffebrenneriet on Grünerløkka."
    server.script(ToolCalls([("add_memory", {"memory": text, "topics": ["places"]})]), Text("ok"))
    assert agent.run("x", user_id="sarah", session_id="t").content == "ok"
    assert [(m.memory, m.topics) for m in db.list_memories("sarah")] == [(text, ["places"])]
    assert server.requests[1]["messages"][-1]["content"] == "added memory 1"


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (("add_memory", '{"memory": "Sarah li'), "error: arguments are not valid JSON"),
        (("add_memory", {"memory": 42}), "error: add_memory: memory must be a string"),
        (
            ("add_memory", {"text": FACT}),
            "error: add_memory: unknown argument 'text' (arguments: memory, topics)",
        ),
        (("add_memory", {"topics": ["x"]}), "error: add_memory: missing argument 'memory'"),
        (("add_memory", {"memory": None}), "error: add_memory: missing argument 'memory'"),
        (("add_memory", {"memory": "   "}), "error: a memory must not be empty"),
        (
            ("add_memory", {"memory": FACT, "topics": [1]}),
            "error: add_memory: topics must be a list of strings",
        ),
        (("add_memory", {"memory": FACT, "topics": "x"}), "error: add_memory: topics must be"),
        (("update_memory", {"memory_id": 99, "memory": "x"}), "error: no memory 99"),
        (
            ("delete_memory", {"memory_id": "one"}),
            "error: delete_memory: memory_id must be an integer",
        ),
        (("delete_memory", {"memory_id": True}), "error: delete_memory: memory_id must be an"),
        (("search_memories", {"query": ["a"]}), "error: search_memories: query must be a string"),
        (("launch_rockets", {}), "error: unknown tool 'launch_rockets'; available: add_memory"),
    ],
)
def test_model_mistakes_become_error_results(agentic, scripted, db, call, error):
    scripted.script(ToolCalls([call]), Text("Sorry."))
    result = agentic.run(SEED, user_id="sarah", session_id="t")
    assert result.content == "Sorry." and result.memory_changes == []
    assert scripted.requests[1].tool_results()[0].startswith(error)
    assert db.count_memories("sarah") == 0
    assert db.execute("SELECT count(*) FROM memory_events").fetchone() == (0,)


@pytest.mark.parametrize(
    "arguments",
    [{"memory": FACT, "foo": 1}, {"foo": 1}, {"memory": FACT, "memory_id": 3}, {"memory": [FACT]}],
)
def test_tool_errors_never_show_python_internals(agentic, scripted, arguments):
    scripted.script(ToolCalls([("add_memory", arguments)]), Text("Sorry."))
    agentic.run(SEED, user_id="sarah", session_id="t")
    [result] = scripted.requests[1].tool_results()
    assert result.startswith("error: add_memory: ")
    leaks = ("MemoryToolbox", "keyword", "positional", "()", "Traceback", "TypeError")
    assert [word for word in leaks if word in result] == []


def test_integer_ids_given_as_text_or_whole_numbers_are_accepted(agentic, scripted, db):
    db.add_memory("sarah", FACT, [], actor="user")
    db.add_memory("sarah", "Sarah lives in Oslo.", [], actor="user")
    scripted.script(
        ToolCalls([("delete_memory", {"memory_id": "1"}), ("delete_memory", {"memory_id": 2.0})]),
        Text("ok"),
    )
    agentic.run("Forget both.", user_id="sarah", session_id="t")
    assert scripted.requests[1].tool_results() == ["deleted memory 1", "deleted memory 2"]


def test_another_users_memory_cannot_be_changed_by_tools(agentic, scripted, db):
    db.add_memory("sarah", FACT, [], actor="user")
    scripted.script(
        ToolCalls(
            [
                ("update_memory", {"memory_id": 1, "memory": "Bob was here."}),
                ("delete_memory", {"memory_id": 1}),
                ("search_memories", {"query": "email"}),
            ]
        ),
        Text("Done."),
    )
    agentic.run("Change memory 1.", user_id="bob", session_id="t")
    assert scripted.requests[1].tool_results() == [
        "error: no memory 1",
        "error: no memory 1",
        "no memories match",
    ]
    assert [m.memory for m in db.list_memories("sarah")] == [FACT]


def test_search_tool_returns_ids(agentic, scripted, db):
    db.add_memory("sarah", FACT, ["contact"], actor="user")
    scripted.script(ToolCalls([("search_memories", {"query": "how to email her"})]), Text("ok"))
    agentic.run("x", user_id="sarah", session_id="t")
    assert scripted.requests[1].tool_results() == [f"[1] {FACT} (topics: contact)"]


def test_duplicate_add_tells_the_model(agentic, scripted, db):
    db.add_memory("sarah", FACT, [], actor="user")
    scripted.script(ToolCalls([("add_memory", {"memory": FACT.upper()})]), Text("ok"))
    result = agentic.run("x", user_id="sarah", session_id="t")
    assert scripted.requests[1].tool_results() == ["memory 1 already says that; nothing was added"]
    assert result.memory_changes == [] and db.count_memories("sarah") == 1


def test_tool_calls_travel_with_the_history(agentic, scripted):
    scripted.script(ToolCalls([("add_memory", {"memory": FACT})]), Text("Hi!"))
    agentic.run(SEED, user_id="sarah", session_id="t")
    agentic.run("And?", user_id="sarah", session_id="t")
    messages = scripted.requests[2].messages
    assert [m["role"] for m in messages] == [
        "system",
        "user",
        "assistant",
        "tool",
        "assistant",
        "user",
    ]
    assert messages[2]["tool_calls"][0]["function"]["name"] == "add_memory"


def test_memory_off_offers_no_tools_and_no_block(scripted, db):
    db.add_memory("tester", FACT, [], actor="user")
    Agent(model=scripted, db=db).run("hi", user_id="tester", session_id="t")
    assert scripted.requests[0].tools is None and FACT not in scripted.requests[0].system


def test_all_memories_that_fit_are_in_the_system_prompt(db):
    db.add_memory("sarah", "Likes tea.", [], actor="user")
    db.add_memory("sarah", FACT, [], actor="user")
    manager = MemoryManager(db, model=None, agentic=False, automatic=True)
    assert manager.context_blocks("sarah", "anything") == (
        f"{KNOWN_HEADING}\n\n{KNOWN_INTRO}\n\n- Likes tea.\n- {FACT}",
        None,
    )


def test_no_memories_in_automatic_mode_add_nothing(db):
    manager = MemoryManager(db, model=None, agentic=False, automatic=True)
    assert manager.context_blocks("sarah", "hi") == (None, None)


def test_chosen_memories_go_just_before_the_message_and_the_prompt_stays(scripted, db):
    rows = [{"memory": f"Sarah noted fact number {i} about the weather."} for i in range(300)]
    db.import_memories("sarah", [{"memory": "Sarah's dog is called Biscuit."}] + rows, actor="user")
    agent = Agent(model=scripted, db=db, update_memory_on_run=True, memory_token_budget=100)
    agent.run("What is my dog called?", user_id="sarah", session_id="t")
    agent.run("Is it raining?", user_id="sarah", session_id="t")
    first, second = (r.messages for r in scripted.calls("chat"))
    assert first[0] == second[0]
    assert first[-2]["role"] == "system" and first[-2]["content"].startswith(TURN_HEADING)
    assert "- Sarah's dog is called Biscuit." in first[-2]["content"]
    assert "Biscuit" not in second[-2]["content"]


def test_selection_among_10000_keeps_the_memory_the_message_is_about(db):
    rows = [{"memory": f"Sarah mentioned detail {i} of her week at work."} for i in range(10_000)]
    db.import_memories("sarah", rows[:5000], actor="user")
    db.add_memory("sarah", "Sarah's dog is called Biscuit.", ["pets"], actor="user")
    db.import_memories("sarah", rows[5000:], actor="user")
    chosen = select_memories(db, "sarah", "What is my dog called?", 1500)
    assert "Sarah's dog is called Biscuit." in [m.memory for m in chosen.memories]
    assert chosen.complete is False
    assert sum(len(m.memory) for m in chosen.memories) <= 1500 * 4


def test_recency_fills_what_relevance_leaves(db):
    db.import_memories("sarah", [{"memory": f"Old fact {i}."} for i in range(10)], actor="user")
    chosen = select_memories(db, "sarah", "nothing matches", 6)  # 24 characters
    assert [m.memory for m in chosen.memories] == ["Old fact 8.", "Old fact 9."]


def test_get_user_memories(agentic, db):
    db.add_memory("sarah", FACT, [], actor="user")
    assert [m.memory for m in agentic.get_user_memories(user_id="sarah")] == [FACT]
    assert agentic.get_user_memories(user_id="bob") == []
