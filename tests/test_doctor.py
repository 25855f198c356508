"""``agentcli doctor`` against the scripted server and its quirks."""

import json

import pytest
from chat_server import ChatServer, Quirks, Text, ToolCalls


@pytest.fixture
def quirky(monkeypatch):
    servers = []

    def start(**quirks) -> ChatServer:
        srv = ChatServer(quirks=Quirks(**quirks)).start()
        servers.append(srv)
        monkeypatch.setenv("OPENAI_BASE_URL", srv.url)
        return srv

    yield start
    for srv in servers:
        srv.stop()


def doctor(run_cli, *args):
    out = run_cli("doctor", "--model", "test-model", "--json", *args)
    return out.returncode, json.loads(out.stdout)


def test_a_server_that_does_everything(quirky, run_cli):
    server = quirky(n_ctx=4096)
    server.script(Text("OK"), ToolCalls([("record_number", {"number": 7})]))
    code, found = doctor(run_cli)
    assert (code, found["usable"], found["problems"]) == (0, True, [])
    assert (found["models"], found["stream_usage"], found["tool_calls"]) == (
        ["test-model"],
        True,
        True,
    )
    assert found["context_window"] == {"tokens": 4096, "source": "llama.cpp /props"}
    assert found["recommended_memory"] == "agentic"
    assert server.requests[1]["tools"][0]["function"]["name"] == "record_number"


def test_llama_server_without_jinja(quirky, run_cli):
    quirky(no_tools=True, stream_usage=False)
    code, found = doctor(run_cli)
    assert (code, found["tool_calls"], found["stream_usage"]) == (0, False, False)
    assert found["recommended_memory"] == "automatic"
    assert found["problems"] == [
        {
            "check": "tool calls",
            "problem": "refused: HTTP 500 tools param requires --jinja flag",
            "fix": "llama-server: start it with --jinja; Ollama: a model with tool support; "
            "or use --memory automatic",
        }
    ]


def test_a_model_that_answers_in_text_instead_of_calling(quirky, run_cli):
    quirky()
    code, found = doctor(run_cli)
    assert (code, found["tool_calls"], found["recommended_memory"]) == (0, False, "automatic")
    assert found["problems"][0]["problem"] == (
        "the model answered in text instead of calling the tool"
    )


def test_an_endpoint_that_does_not_answer(run_cli):
    out = run_cli("doctor", "--json", env={"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    found = json.loads(out.stdout)
    assert (out.returncode, found["usable"]) == (1, False)
    assert [p["check"] for p in found["problems"]] == ["reachable", "streaming"]
    assert found["problems"][0]["fix"] == (
        "check that the server runs and that OPENAI_BASE_URL ends in /v1"
    )


def test_the_table_names_each_problem_with_its_fix(quirky, run_cli):
    quirky(no_tools=True)
    out = run_cli("doctor", "--model", "test-model")
    text = out.stdout.decode()
    assert text.splitlines()[1].split() == ["CHECK", "STATUS", "RESULT"]
    assert (
        "problem: tool calls: refused: HTTP 500 tools param requires --jinja flag; fix: "
        "llama-server: start it with --jinja" in text
    )
