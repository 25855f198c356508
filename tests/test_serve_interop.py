"""One person across surfaces: what ``agentcli chat`` learns, the server knows, and back."""

import subprocess

import openai
import pytest
from chat_server import ChatServer, Text, ToolCalls
from serving import AGENTCLI, Served, server_env


@pytest.fixture(scope="module")
def model():
    with ChatServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("serve-interop")


@pytest.fixture(scope="module")
def served(model, home):
    with Served(env=server_env(home, model.url)) as srv:
        yield srv


def chat(home, model, *args):
    done = subprocess.run(
        [AGENTCLI, "chat", *args],
        env=server_env(home, model.url),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def remember(fact):
    return ToolCalls([("add_memory", {"memory": fact, "topics": []})]), Text("Noted.")


def system_prompt(request):
    return request["messages"][0]["content"]


def test_memory_learned_in_the_terminal_is_used_through_the_server(served, home, model):
    model.script(*remember("Sarah prefers email over phone."))
    chat(home, model, "--user", "sarah", "--session", "cli-1", "I prefer email.")
    with openai.OpenAI(base_url=served.url + "/v1", api_key="unused") as sdk:
        sdk.chat.completions.create(
            model="m", user="sarah", messages=[{"role": "user", "content": "How do I like it?"}]
        )
    assert "Sarah prefers email over phone." in system_prompt(model.requests[-1])


def test_memory_learned_through_the_server_is_used_in_the_terminal(served, home, model):
    model.script(*remember("Omar lives in Oslo."))
    with served.client() as http:
        http.post("/runs", json={"user_id": "omar", "message": "I live in Oslo."})
    chat(home, model, "--user", "omar", "Where do I live?")
    assert "Omar lives in Oslo." in system_prompt(model.requests[-1])
    listed = chat(home, model, "--user", "omar", "--no-markdown", "hi")
    assert listed == "echo: hi\n"


def test_a_session_continues_from_the_terminal_to_the_api_and_back(served, home, model):
    chat(home, model, "--user", "pia", "--session", "thread", "one")
    with served.client() as http:
        http.post("/runs", json={"user_id": "pia", "session_id": "thread", "message": "two"})
        assert [(m["role"], m["content"]) for m in model.requests[-1]["messages"][1:]] == [
            ("user", "one"),
            ("assistant", "echo: one"),
            ("user", "two"),
        ]
    with openai.OpenAI(base_url=served.url + "/v1", api_key="unused") as sdk:
        sdk.chat.completions.create(
            model="m",
            user="pia",
            messages=[{"role": "user", "content": "three"}],
            extra_headers={"X-Agentcli-Session": "thread"},
        )
    chat(home, model, "--user", "pia", "--session", "thread", "four")
    users = [m["content"] for m in model.requests[-1]["messages"] if m["role"] == "user"]
    assert users == ["one", "two", "three", "four"]
    with served.client() as http:
        shown = http.get("/sessions/thread", params={"user_id": "pia"}).json()
    assert [m["content"] for m in shown["messages"] if m["role"] == "user"] == users
