"""The MCP server (``agentcli mcp``) through the ``mcp`` SDK's own clients.

Most behaviours are checked with the SDK's in-process client against the
server :func:`build_server` makes over a real SQLite file; the end-to-end
tests spawn ``agentcli mcp`` and talk to it with the SDK's stdio client.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client import Client
from mcp.shared.exceptions import MCPError

from agentcli.adapters.sqlite import SqliteDb
from agentcli.config import db_path
from agentcli.mcp_server.server import build_server

AGENTCLI = str(Path(sys.executable).with_name("agentcli"))
README = (Path(__file__).parent.parent / "README.md").read_text()
FACT = "Sarah prefers email over phone."
TOOLS = [
    "recall",
    "remember",
    "update_memory",
    "forget",
    "list_memories",
    "search_sessions",
    "get_session",
]


async def call(client: Any, name: str, **arguments: Any) -> Any:
    """A tool's JSON answer; a tool error as ``("error", text)``."""
    result = await client.call_tool(name, arguments)
    text = result.content[0].text
    if result.is_error:
        return ("error", text)
    assert json.loads(text) == result.structured_content
    return result.structured_content


def in_process(steps: Any, user: str = "sarah", budget: int = 1500) -> Any:
    """``await steps(client)`` with a client of the server for ``user`` on the test's database."""

    async def main() -> Any:
        with SqliteDb(db_path()) as store:
            server = build_server(store, memory_budget=budget, resolve_user=lambda _: user)
            async with Client(server) as client:
                return await steps(client)

    return anyio.run(main)


@asynccontextmanager
async def stdio_session(*args: str, errlog: Path) -> AsyncIterator[ClientSession]:
    """An initialized session of ``agentcli ARGS``, spawned by the SDK's stdio client."""
    params = StdioServerParameters(
        command=AGENTCLI,
        args=list(args),
        env={"AGENTCLI_HOME": os.environ["AGENTCLI_HOME"]},
    )
    with open(errlog, "w") as err:
        async with stdio_client(params, errlog=err) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session


def over_stdio(steps: Any, *args: str, errlog: Path) -> Any:
    """``await steps(session)`` with a session of ``agentcli ARGS``."""

    async def main() -> Any:
        async with stdio_session(*args, errlog=errlog) as session:
            return await steps(session)

    return anyio.run(main)


def add(user: str, *texts: str) -> None:
    with SqliteDb(db_path()) as db:
        for text in texts:
            db.add_memory(user, text, actor="user")


# -- over stdio, end to end ----------------------------------------------------
def test_a_client_over_stdio_remembers_recalls_updates_and_forgets(tmp_path, run_cli):
    async def steps(session: ClientSession) -> Any:
        tools = await session.list_tools()
        return (
            [(t.name, t.input_schema["required"]) for t in tools.tools],
            await call(session, "remember", memory=FACT, topics=["Contact"]),
            await call(session, "remember", memory="sarah prefers EMAIL over phone"),
            await call(session, "remember", memory="Sarah lives in Oslo."),
            await call(session, "recall", query="how do I reach her by email"),
            await call(session, "update_memory", memory_id=2, memory="Sarah lives in Bergen."),
            await call(session, "forget", memory_id=1),
            await call(session, "list_memories"),
        )

    # Started as the README's client configuration says.
    config = json.loads(README.split("```json\n")[1].split("```")[0])["mcpServers"]["agentcli"]
    assert (config["command"], list(config["env"])) == ("agentcli", ["AGENTCLI_HOME"])
    listed, added, again, _, recalled, updated, forgotten, remaining = over_stdio(
        steps, *config["args"], errlog=tmp_path / "err"
    )
    assert listed == [
        ("recall", ["query"]),
        ("remember", ["memory"]),
        ("update_memory", ["memory_id", "memory"]),
        ("forget", ["memory_id"]),
        ("list_memories", []),
        ("search_sessions", ["query"]),
        ("get_session", ["session_id"]),
    ]
    assert (added["added"], added["message"], added["memory"]["topics"]) == (
        True,
        "added memory 1",
        ["contact"],
    )
    assert (again["added"], again["message"]) == (
        False,
        "memory 1 already says that; nothing was added",
    )
    assert [m["memory"] for m in recalled["memories"]] == [FACT, "Sarah lives in Oslo."]
    assert (updated["updated"], updated["memory"]["memory"]) == (True, "Sarah lives in Bergen.")
    assert (forgotten["deleted"], forgotten["memory"]["id"]) == (True, 1)
    assert [m["memory"] for m in remaining["memories"]] == ["Sarah lives in Bergen."]

    shown = json.loads(run_cli("memories", "list", "--user", "sarah", "--json").stdout)
    assert [(m["id"], m["memory"]) for m in shown] == [(2, "Sarah lives in Bergen.")]
    history = [
        json.loads(run_cli("memories", "history", str(n), "--user", "sarah", "--json").stdout)
        for n in (1, 2)
    ]
    assert [[(e["action"], e["actor"]) for e in events] for events in history] == [
        [("add", "mcp"), ("delete", "mcp")],
        [("add", "mcp"), ("update", "mcp")],
    ]
    table = run_cli("memories", "history", "2", "--user", "sarah").stdout.decode().splitlines()
    assert [row.split()[2:4] for row in table[1:]] == [["add", "mcp"], ["update", "mcp"]]
    assert (tmp_path / "err").read_text() == ""


def test_errors_over_stdio_are_tool_errors_and_the_server_keeps_serving(tmp_path):
    add("bob", "Bob likes jazz.")

    async def steps(session: ClientSession) -> Any:
        return (
            await call(session, "forget", memory_id=1),
            await call(session, "update_memory", memory_id="one", memory="x"),
            await call(session, "remember", topics=["x"]),
            await call(session, "remember", memory=FACT, user_id="bob"),
            await call(session, "no_such_tool"),
            await call(session, "remember", memory=FACT),
        )

    *errors, after = over_stdio(steps, "mcp", "--user", "sarah", errlog=tmp_path / "err")
    assert errors == [
        ("error", "memory 1 not found"),
        ("error", "memory_id must be an integer"),
        ("error", "missing argument 'memory'"),
        ("error", "no tool takes a user: the server is bound to one user"),
        ("error", "unknown tool 'no_such_tool' (tools: " + ", ".join(TOOLS) + ")"),
    ]
    assert after["message"] == "added memory 2"
    with SqliteDb(db_path()) as db:
        assert [m.memory for m in db.list_memories("bob")] == ["Bob likes jazz."]


def test_two_servers_for_two_users_on_one_database_never_see_each_other(tmp_path):
    facts = {"sarah": "Sarah likes tea.", "bob": "Bob likes jazz."}

    async def main() -> Any:
        async with (
            stdio_session("mcp", "--user", "sarah", errlog=tmp_path / "sarah") as sarah,
            stdio_session("mcp", "--user", "bob", errlog=tmp_path / "bob") as bob,
        ):
            sessions = {"sarah": sarah, "bob": bob}
            for user, session in sessions.items():
                await call(session, "remember", memory=facts[user])
            return {
                user: (
                    await call(session, "recall", query="likes tea jazz"),
                    await call(session, "list_memories"),
                    (await session.read_resource(f"memory://{user}")).contents[0].text,
                )
                for user, session in sessions.items()
            }

    results = anyio.run(main)
    for user, fact in facts.items():
        recalled, listed, markdown = results[user]
        assert [m["memory"] for m in recalled["memories"]] == [fact]
        assert [(m["memory"], m["user_id"]) for m in listed["memories"]] == [(fact, user)]
        assert markdown.splitlines()[2:] == [f"- [{listed['memories'][0]['id']}] {fact}"]


def test_a_database_that_cannot_be_opened_is_one_line_before_any_protocol(run_cli, tmp_path):
    (tmp_path / "file").write_text("")
    out = run_cli("mcp", "--user", "sarah", "--db", str(tmp_path / "file" / "x.db"))
    assert out.returncode == 1
    assert out.stdout == b""
    assert out.stderr.decode().startswith("agentcli: error: cannot create database ")
    assert len(out.stderr.splitlines()) == 1


# -- the tools, in process -------------------------------------------------------
def test_every_tool_has_a_description_and_a_closed_schema_without_a_user():
    tools = in_process(lambda c: c.list_tools()).tools
    assert [t.name for t in tools] == TOOLS
    for tool in tools:
        assert tool.description and len(tool.description) > 60
        schema = tool.input_schema
        assert (schema["type"], schema["additionalProperties"]) == ("object", False)
        assert not {"user", "user_id"} & set(schema["properties"])
        assert all(p.get("description") for p in schema["properties"].values())
    annotations = {t.name: t.annotations for t in tools}
    assert annotations["recall"].read_only_hint is True
    assert annotations["forget"].destructive_hint is True


def test_recall_stays_within_the_budget_and_prefers_the_relevant(monkeypatch):
    add("sarah", FACT, *[f"Sarah once visited town number {n} on holiday." for n in range(40)])

    async def steps(client: Client) -> Any:
        return await call(client, "recall", query="email", budget_tokens=40)

    found = in_process(steps)
    texts = [m["memory"] for m in found["memories"]]
    assert FACT in texts
    assert sum(len(t) for t in texts) <= 40 * 4
    assert (found["budget_tokens"], found["complete"]) == (40, False)
    assert found["used_tokens"] <= 40


def test_recall_defaults_to_the_configured_budget():
    add("sarah", *[f"Sarah has hobby number {n} of many." for n in range(20)])
    found = in_process(lambda c: call(c, "recall", query="hobby"), budget=30)
    assert found["budget_tokens"] == 30
    assert 0 < sum(len(m["memory"]) for m in found["memories"]) <= 120


def test_recall_with_everything_fitting_is_complete_and_oldest_first():
    add("sarah", "Sarah likes tea.", FACT)
    found = in_process(lambda c: call(c, "recall", query="anything"))
    assert [m["id"] for m in found["memories"]] == [1, 2]
    assert found["complete"] is True


def test_list_memories_is_paginated():
    add("sarah", *[f"Sarah fact {n}." for n in range(5)])

    async def steps(client: Client) -> Any:
        return [
            await call(client, "list_memories", limit=2),
            await call(client, "list_memories", limit=2, offset=2),
            await call(client, "list_memories", limit=2, offset=4),
            await call(client, "list_memories", limit=2, offset=9),
        ]

    pages = in_process(steps)
    assert [[m["id"] for m in p["memories"]] for p in pages] == [[1, 2], [3, 4], [5], []]
    assert [(p["total"], p["offset"], p["next_offset"]) for p in pages] == [
        (5, 0, 2),
        (5, 2, 4),
        (5, 4, None),
        (5, 9, None),
    ]


def test_list_memories_by_topic_and_a_page_size_is_capped():
    with SqliteDb(db_path()) as db:
        db.add_memory("sarah", FACT, ["contact"], actor="user")
        db.add_memory("sarah", "Sarah lives in Oslo.", ["home"], actor="user")

    async def steps(client: Client) -> Any:
        return (
            await call(client, "list_memories", topic=" Home "),
            await call(client, "list_memories", limit=1000),
        )

    by_topic, too_many = in_process(steps)
    assert [m["memory"] for m in by_topic["memories"]] == ["Sarah lives in Oslo."]
    assert too_many == ("error", "limit must be an integer from 1 to 100")


@pytest.mark.parametrize(
    ("name", "arguments", "message"),
    [
        ("recall", {}, "missing argument 'query'"),
        ("recall", {"query": "  "}, "query must not be empty"),
        (
            "recall",
            {"query": "x", "budget_tokens": 0},
            "budget_tokens must be an integer from 1 to 32000",
        ),
        ("remember", {"memory": 7}, "memory must be a string"),
        (
            "remember",
            {"memory": "x" * 1001},
            "a memory is at most 1000 characters (this one has 1001)",
        ),
        ("remember", {"memory": FACT, "topics": "contact"}, "topics must be a list of strings"),
        (
            "remember",
            {"memory": FACT, "mood": "happy"},
            "unknown argument 'mood' (arguments: memory, topics)",
        ),
        ("forget", {"memory_id": True}, "memory_id must be an integer"),
        ("forget", {"memory_id": 2**70}, "memory 1180591620717411303424 not found"),
        ("list_memories", {"offset": -1}, "offset must be an integer of at least 0"),
        ("get_session", {"session_id": "nope"}, "session 'nope' not found"),
    ],
)
def test_bad_arguments_are_answered_in_the_models_terms(name, arguments, message):
    assert in_process(lambda c: call(c, name, **arguments)) == ("error", message)


def test_another_users_memory_is_not_found_and_left_alone():
    add("bob", "Bob likes jazz.")

    async def steps(client: Client) -> Any:
        return [
            await call(client, "update_memory", memory_id=1, memory="Bob hates jazz."),
            await call(client, "forget", memory_id=1),
        ]

    assert in_process(steps) == [("error", "memory 1 not found")] * 2
    with SqliteDb(db_path()) as db:
        assert [m.memory for m in db.list_memories("bob")] == ["Bob likes jazz."]
        assert [e.actor for e in db.memory_events("bob", 1)] == ["user"]


def test_updating_to_what_another_memory_says_is_refused():
    add("sarah", FACT, "Sarah lives in Oslo.")
    answer = in_process(lambda c: call(c, "update_memory", memory_id=2, memory=FACT.upper()))
    assert answer == ("error", "memory 1 already says that; memory 2 was not changed")


def test_an_update_that_changes_nothing_says_so():
    add("sarah", FACT)
    answer = in_process(lambda c: call(c, "update_memory", memory_id=1, memory=FACT))
    assert (answer["updated"], answer["message"]) == (False, "memory 1 already says that")


def seed_sessions() -> None:
    with SqliteDb(db_path()) as db:
        for user, session, text in [
            ("sarah", "trip", "Book me a flight to Oslo in May."),
            ("sarah", "trip", "Make it a window seat."),
            ("bob", "bob-trip", "Book me a flight to Oslo too."),
        ]:
            _, run = db.begin_run(user, session, text, "m", "owner")
            db.finish_run(
                run.pk, status="completed", messages=[{"role": "assistant", "content": "Done."}]
            )


def test_search_sessions_finds_only_the_users_own_messages():
    seed_sessions()
    found = in_process(lambda c: call(c, "search_sessions", query="flight Oslo"))
    assert [(h["session_id"], h["role"], h["user_id"]) for h in found["hits"]] == [
        ("trip", "user", "sarah")
    ]
    assert found["hits"][0]["snippet"] == "Book me a flight to Oslo in May."


def test_get_session_gives_its_last_runs():
    seed_sessions()

    async def steps(client: Client) -> Any:
        return (
            await call(client, "get_session", session_id="trip", last_runs=1),
            await call(client, "get_session", session_id="bob-trip"),
        )

    last, foreign = in_process(steps)
    assert (last["session_id"], last["runs"]) == ("trip", 2)
    assert [(m["role"], m["content"]) for m in last["messages"]] == [
        ("user", "Make it a window seat."),
        ("assistant", "Done."),
    ]
    assert foreign == ("error", "session 'bob-trip' not found")


# -- the resource ------------------------------------------------------------------
def test_the_memory_resource_is_markdown_of_the_users_memories():
    with SqliteDb(db_path()) as db:
        db.add_memory("sarah", FACT, ["contact"], actor="user")
        db.add_memory("bob", "Bob likes jazz.", actor="user")

    async def steps(client: Client) -> Any:
        listed = await client.list_resources()
        read = await client.read_resource("memory://sarah")
        return listed.resources, read.contents

    resources, contents = in_process(steps)
    assert [(r.uri, r.mime_type) for r in resources] == [("memory://sarah", "text/markdown")]
    assert contents[0].text == f"# Memories of sarah\n\n- [1] {FACT} (contact)\n"


def test_another_users_resource_cannot_be_read():
    add("bob", "Bob likes jazz.")

    async def steps(client: Client) -> Any:
        with pytest.raises(MCPError, match="resource memory://bob not found"):
            await client.read_resource("memory://bob")
        return True

    assert in_process(steps)


def test_without_the_sdk_the_command_says_which_extra_to_install():
    probe = (
        "import sys; sys.modules['mcp'] = None; sys.argv = ['agentcli', 'mcp', '--user', 'sarah']\n"
        "from agentcli.cli import main; sys.exit(main())"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert (out.returncode, out.stdout) == (2, "")
    assert out.stderr == (
        "agentcli: error: agentcli mcp needs the MCP SDK: pip install 'agentcli[mcp]'\n"
    )
