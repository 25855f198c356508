"""Every command on a PostgreSQL URL, as the installed console script, like on a file;
two processes sharing one server see each other's runs and memories."""

import json

import pytest


@pytest.fixture
def pg_cli(run_cli, pg_url, server):
    """``agentcli`` with ``AGENTCLI_DB`` naming the test server."""

    def run(*args: str, input: str | None = None):
        done = run_cli(*args, input=input, env={"AGENTCLI_DB": pg_url})
        assert done.returncode == 0, done.stderr.decode()
        return done.stdout.decode()

    return run


def test_chat_sessions_and_summaries(pg_cli, server):
    pg_cli("chat", "-u", "sarah", "-s", "t42", "My name is Sarah.")
    assert pg_cli("chat", "-u", "sarah", "-s", "t42", "What is my name?") == (
        "echo: What is my name?\n"
    )
    assert [m["content"] for m in server.requests[-1]["messages"][1:]] == [
        "My name is Sarah.",
        "echo: My name is Sarah.",
        "What is my name?",
    ]
    piped = pg_cli("chat", "-u", "sarah", "-s", "t42", "--json", input="Piped text.")
    assert json.loads(piped)["content"] == "echo: Piped text."
    listed = json.loads(pg_cli("sessions", "list", "-u", "sarah", "--json"))
    assert [(s["session_id"], s["runs"], s["name"]) for s in listed] == [
        ("t42", 3, "My name is Sarah.")
    ]
    shown = json.loads(pg_cli("sessions", "show", "t42", "-u", "sarah", "--json"))
    assert [m["role"] for m in shown["messages"]] == ["user", "assistant"] * 3
    hits = json.loads(pg_cli("sessions", "search", "names", "-u", "sarah", "--json"))
    assert [(h["role"], h["snippet"], h["highlights"]) for h in hits] == [
        ("assistant", "echo: What is my name?", [[17, 21]]),
        ("user", "What is my name?", [[11, 15]]),
        ("assistant", "echo: My name is Sarah.", [[9, 13]]),
        ("user", "My name is Sarah.", [[3, 7]]),
    ]
    exported = json.loads(pg_cli("sessions", "export", "t42", "-u", "sarah", "-f", "json"))
    assert exported["messages"][0]["content"] == "My name is Sarah."
    assert pg_cli("summarize", "-u", "sarah", "-s", "t42").strip()
    pg_cli("sessions", "rename", "t42", "Names", "-u", "sarah")
    pg_cli("sessions", "delete", "t42", "-u", "sarah", "--yes")
    assert json.loads(pg_cli("sessions", "list", "-u", "sarah", "--json")) == []


def test_memories_commands(pg_cli, tmp_path):
    pg_cli("memories", "add", "-u", "sarah", "Sarah paints landscapes.", "-t", "hobby")
    pg_cli("memories", "add", "-u", "sarah", "Sarah lives in Oslo.")
    found = json.loads(pg_cli("memories", "search", "-u", "sarah", "painting", "--json"))
    assert [m["memory"] for m in found] == ["Sarah paints landscapes."]
    pg_cli("memories", "edit", "-u", "sarah", "2", "Sarah lives in Bergen.")
    history = json.loads(pg_cli("memories", "history", "-u", "sarah", "2", "--json"))
    assert [e["action"] for e in history] == ["add", "update"]
    export = tmp_path / "m.json"
    export.write_text(pg_cli("memories", "export", "-u", "sarah"))
    pg_cli("memories", "import", "-u", "bob", str(export))
    listed = json.loads(pg_cli("memories", "list", "-u", "bob", "--topic", "hobby", "--json"))
    assert [m["memory"] for m in listed] == ["Sarah paints landscapes."]
    pg_cli("memories", "delete", "-u", "sarah", "1")
    pg_cli("memories", "clear", "-u", "bob", "--yes")
    assert json.loads(pg_cli("memories", "list", "-u", "bob", "--json")) == []


def test_two_processes_see_each_others_runs_and_memories(pg_cli, server):
    pg_cli("chat", "-u", "sarah", "-s", "shared", "--memory", "off", "From the laptop.")
    pg_cli("memories", "add", "-u", "sarah", "Sarah prefers email.")
    pg_cli("chat", "-u", "sarah", "-s", "shared", "Hello from the server.")
    request = server.requests[-1]
    assert "From the laptop." in json.dumps(request)
    assert "Sarah prefers email." in json.dumps(request)
