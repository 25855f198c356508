"""``/v1``: the real ``openai`` SDK against the real ``agentcli serve``."""

import openai
import pytest
from chat_server import ChatServer, Drop, Error
from serving import Served, rows, server_env


@pytest.fixture(scope="module")
def model():
    with ChatServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("serve-openai")


@pytest.fixture(scope="module")
def served(model, home):
    with Served(env=server_env(home, model.url)) as srv:
        yield srv


@pytest.fixture
def sdk(served):
    with openai.OpenAI(base_url=served.url + "/v1", api_key="unused") as client:
        yield client


def ask(sdk, text, user, **kwargs):
    return sdk.chat.completions.with_raw_response.create(
        model="test-model", messages=[{"role": "user", "content": text}], user=user, **kwargs
    )


def test_a_reply_and_the_new_session_in_the_header(sdk, model):
    raw = ask(sdk, "hello", "ann")
    reply = raw.parse()
    assert (reply.choices[0].message.content, reply.choices[0].finish_reason) == (
        "echo: hello",
        "stop",
    )
    assert reply.usage.completion_tokens == 2 and reply.usage.prompt_tokens > 0
    assert len(raw.headers["x-agentcli-session"]) == 12
    assert reply.id.startswith("chatcmpl-")


def test_a_streamed_reply_ends_with_usage_when_asked(sdk):
    stream = sdk.chat.completions.create(
        model="test-model",
        messages=[{"role": "user", "content": "stream this please"}],
        user="bea",
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: stream this please"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 6


def test_a_streamed_reply_without_usage_has_no_usage_chunk(sdk):
    stream = sdk.chat.completions.create(
        model="test-model", messages=[{"role": "user", "content": "hi"}], user="bea", stream=True
    )
    assert all(c.choices and c.usage is None for c in stream)


def test_the_session_header_continues_the_thread_the_server_holds(sdk, model):
    first = ask(sdk, "My name is Cleo.", "cleo")
    session = first.headers["x-agentcli-session"]
    again = ask(sdk, "What is my name?", "cleo", extra_headers={"X-Agentcli-Session": session})
    assert again.headers["x-agentcli-session"] == session
    sent = [(m["role"], m["content"]) for m in model.requests[-1]["messages"][1:]]
    assert sent == [
        ("user", "My name is Cleo."),
        ("assistant", "echo: My name is Cleo."),
        ("user", "What is my name?"),
    ]


def test_metadata_names_the_session_too(sdk, home):
    ask(sdk, "one", "dora", metadata={"session_id": "dora-thread"})
    ask(sdk, "two", "dora", metadata={"session_id": "dora-thread"})
    assert rows(
        home,
        "SELECT s.session_id, count(*) FROM runs r JOIN sessions s ON s.id = r.session_pk "
        "WHERE s.user_id = 'dora' GROUP BY s.id",
    ) == [("dora-thread", 2)]


def test_the_last_user_message_is_the_run_and_system_messages_its_instructions(sdk, model):
    sdk.chat.completions.create(
        model="test-model",
        user="emil",
        messages=[
            {"role": "system", "content": "Talk like a pirate."},
            {"role": "user", "content": "ignored: the server holds the history"},
            {"role": "assistant", "content": "ignored too"},
            {"role": "user", "content": [{"type": "text", "text": "Ahoy?"}]},
        ],
    )
    sent = model.requests[-1]["messages"]
    assert sent[0]["role"] == "system" and sent[0]["content"].startswith("Talk like a pirate.")
    assert [(m["role"], m["content"]) for m in sent[1:]] == [("user", "Ahoy?")]


def test_model_temperature_and_max_tokens_pass_through(sdk, model):
    sdk.chat.completions.create(
        model="other-model",
        user="fay",
        temperature=0.3,
        max_tokens=77,
        messages=[{"role": "user", "content": "hi"}],
    )
    sent = model.requests[-1]
    assert (sent["model"], sent["temperature"], sent["max_tokens"]) == ("other-model", 0.3, 77)


def test_the_user_may_come_from_the_header(sdk, home):
    sdk.chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "by header"}],
        extra_headers={"X-Agentcli-User": "gus"},
    )
    assert rows(home, "SELECT name FROM sessions WHERE user_id = 'gus'") == [("by header",)]


def test_the_users_memory_reaches_the_model(sdk, served, model):
    with served.client() as http:
        http.post("/memories", json={"user_id": "hana", "memory": "Hana prefers email."})
    ask(sdk, "How should you contact me?", "hana")
    assert "Hana prefers email." in model.requests[-1]["messages"][0]["content"]


def test_models_lists_the_configured_model(sdk):
    assert [m.id for m in sdk.models.list()] == ["gpt-4o-mini"]


def test_client_tools_are_refused_and_nothing_is_stored(sdk, home, model):
    before = len(model.requests)
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    with pytest.raises(openai.BadRequestError) as caught:
        ask(sdk, "use my tool", "ivan", tools=[tool])
    assert caught.value.body["code"] == "tools_not_supported"
    assert "client-side tools are not supported" in caught.value.body["message"]
    assert rows(home, "SELECT count(*) FROM sessions WHERE user_id = 'ivan'") == [(0,)]
    assert len(model.requests) == before


@pytest.mark.parametrize(
    "body, message",
    [
        ({"messages": [], "user": "x"}, "messages: List should have at least 1 item"),
        ({"messages": [{"role": "system", "content": "s"}], "user": "x"}, "no user message"),
        ({"messages": [{"role": "user", "content": "hi"}]}, "user is required"),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url"}]}], "user": "x"},
            "only text content",
        ),
        ({"messages": [{"role": "user", "content": "hi"}], "user": "x", "n": 2}, "n: "),
        ({"messages": "hi", "user": "x"}, "messages: "),
    ],
)
def test_bad_requests_are_400_in_openais_shape(served, body, message):
    with served.client() as http:
        answer = http.post("/v1/chat/completions", json=body)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert message in error["message"] and error["type"] == "invalid_request_error"


def test_a_model_failure_is_502_with_its_cause_and_the_message_is_kept(sdk, model, home):
    model.script(Error(400, "the endpoint is unhappy"))
    before = len(model.requests)
    with pytest.raises(openai.InternalServerError) as caught:
        ask(sdk, "keep this", "jon", extra_headers={"X-Agentcli-Session": "jon-1"})
    assert caught.value.status_code == 502
    assert "the endpoint is unhappy" in caught.value.body["message"]
    assert "kept in session jon-1" in caught.value.body["message"]
    assert len(model.requests) == before + 1  # the SDK was told not to retry
    assert rows(
        home,
        "SELECT r.status, m.content FROM runs r JOIN messages m ON m.run_pk = r.id "
        "JOIN sessions s ON s.id = r.session_pk WHERE s.user_id = 'jon'",
    ) == [("error", "keep this")]


def test_a_stream_that_fails_midway_ends_with_an_error_the_sdk_raises(sdk, model, home):
    model.script(Drop("partial an"))  # text arrived: the model client does not retry
    stream = sdk.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "x"}], user="kim", stream=True
    )
    seen = []
    with pytest.raises(openai.APIError, match="connection closed"):
        for chunk in stream:
            seen.append(chunk.choices[0].delta.content or "")
    assert "".join(seen) == "partial an"
    assert rows(
        home,
        "SELECT r.status, m.role, m.content FROM runs r JOIN messages m ON m.run_pk = r.id "
        "JOIN sessions s ON s.id = r.session_pk WHERE s.user_id = 'kim' ORDER BY m.seq",
    ) == [("error", "user", "x"), ("error", "assistant", "partial an")]


def test_the_readmes_sdk_example_runs(served, model):
    import contextlib
    import io
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme[readme.index("### The OpenAI-compatible endpoint") :]
    start = section.index("```python\n") + len("```python\n")
    code = section[start : section.index("```", start)].replace("http://127.0.0.1:7777", served.url)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(code, {})
    assert printed.getvalue() == "echo: How should you contact me?\n"
    assert model.requests[-2]["messages"][-1]["content"] == "My name is Sarah and I prefer email."
