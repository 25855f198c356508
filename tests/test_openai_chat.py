"""OpenAIChat's contract, against the loopback Chat Completions server: what it sends
(body, purpose header, key) and how it reads answers, streamed and whole."""

import json
import ssl
import subprocess

import pytest
from chat_server import ChatServer, Drop, Error, Redirect, Text, ToolCalls

from agentcli import OpenAIChat
from agentcli.core.errors import ModelError, ToolsRejectedError
from agentcli.core.results import ToolCall

HELLO = [{"role": "user", "content": "hello there"}]
TOOLS = [{"type": "function", "function": {"name": "add_memory", "parameters": {}}}]
KEY = "sk-test-SECRET-8f3a9c2e7b1d4056"


@pytest.fixture
def chat(server):
    return OpenAIChat("m", base_url=server.url, retry_delay=0.01, timeout=10)


def test_a_streamed_answer_reaches_on_text_piece_by_piece(chat, server):
    server.script(Text("a" * 20, chunk=5))
    pieces = []
    response = chat.complete(HELLO, on_text=pieces.append)
    assert pieces == ["a" * 5] * 4
    assert (response.content, response.finish_reason, response.model) == ("a" * 20, "stop", "m")
    assert (response.usage.input_tokens, response.usage.output_tokens, response.usage.calls) == (
        2,
        5,
        1,
    )
    body = server.requests[0]
    assert (body["stream"], body["stream_options"]) == (True, {"include_usage": True})


def test_a_whole_answer_gives_its_text_usage_model_and_finish_reason(server):
    model = OpenAIChat("m", base_url=server.url, stream=False)
    server.script(Text("whole answer", finish_reason="length"))
    response = model.complete(HELLO)
    assert (response.content, response.finish_reason, response.model) == (
        "whole answer",
        "length",
        "m",
    )
    assert (response.usage.input_tokens, response.usage.output_tokens) == (2, 3)
    assert "stream" not in server.requests[0]


def test_a_stream_without_usage_gets_an_estimate_marked_as_such(chat, server):
    server.script(Text("hi there", usage=False))
    usage = chat.complete(HELLO).usage
    assert usage.estimated and usage.calls == 1
    assert usage.input_tokens > 0 and usage.output_tokens > 0


def test_the_body_is_the_model_messages_and_tools_only_when_offered(chat, server):
    chat.complete(HELLO)
    chat.complete(HELLO, tools=TOOLS)
    without, offered = server.requests
    assert (without["model"], without["messages"], "tools" in without) == ("m", HELLO, False)
    assert offered["tools"] == TOOLS


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "whole"])
def test_the_purpose_travels_in_a_header_and_the_body_stays_the_same(chat, server, stream):
    for purpose in ("chat", "memory", "summary"):
        chat.complete(HELLO, stream=stream, purpose=purpose)
    sent = [{k.lower(): v for k, v in h.items()}["x-agentcli-purpose"] for h in server.headers]
    assert sent == [r.purpose for r in server.requests] == ["chat", "memory", "summary"]
    assert server.requests[0] == server.requests[1] == server.requests[2]


def test_the_key_is_sent_as_a_bearer_token_and_only_there(server):
    model = OpenAIChat("m", base_url=server.url, api_key=KEY)
    model.complete(HELLO)
    headers = {k.lower(): v for k, v in server.headers[0].items()}
    assert headers["authorization"] == f"Bearer {KEY}"
    assert KEY not in json.dumps(server.requests[0]) and KEY not in repr(model)


def test_a_key_the_server_echoes_is_redacted_from_the_error(server):
    model = OpenAIChat("m", base_url=server.url, api_key=KEY)
    server.script(Error(401, f"Incorrect API key provided: {KEY}."))
    with pytest.raises(ModelError) as caught:
        model.complete(HELLO)
    assert str(caught.value) == (
        f"model call to {server.url} failed: HTTP 401 Incorrect API key provided: ***."
    )


# -- tool calls ------------------------------------------------------------------------
CAFE = "Sarah's favourite café is Kaffebrenneriet on Grünerløkka."


@pytest.mark.parametrize("stream", [True, False], ids=["streamed-fragments", "whole"])
def test_tool_calls_are_assembled(server, stream):
    model = OpenAIChat("m", base_url=server.url, stream=stream)
    server.script(
        ToolCalls([("add_memory", {"memory": CAFE, "topics": ["places"]}), ("forget", "{}")])
    )
    response = model.complete(HELLO, tools=TOOLS)
    assert response.tool_calls == [
        ToolCall("call_0", "add_memory", json.dumps({"memory": CAFE, "topics": ["places"]})),
        ToolCall("call_1", "forget", "{}"),
    ]
    assert response.finish_reason == "tool_calls"


def test_a_refusal_of_tools_is_told_apart(chat, server):
    server.script(Error(400, "llama2 does not support tools"))
    with pytest.raises(ToolsRejectedError) as caught:
        chat.complete(HELLO, tools=TOOLS)
    assert str(caught.value) == (
        f"model call to {server.url} failed: HTTP 400 llama2 does not support tools"
    )


@pytest.mark.parametrize(
    ("message", "tools"),
    [("temperature must be between 0 and 2", TOOLS), ("llama2 does not support tools", None)],
    ids=["unrelated-400", "no-tools-offered"],
)
def test_other_400s_are_plain_model_errors(chat, server, message, tools):
    server.script(Error(400, message))
    with pytest.raises(ModelError) as caught:
        chat.complete(HELLO, tools=tools)
    assert type(caught.value) is ModelError and message in str(caught.value)
    assert len(server.requests) == 1


# -- retries -----------------------------------------------------------------------------
def test_transient_failures_are_retried(chat, server):
    server.script(Error(500), Error(503), Error(429), Text("finally"))
    assert chat.complete(HELLO).content == "finally"
    assert len(server.requests) == 4


def test_dropped_connection_before_any_text_is_retried(chat, server):
    server.script(Drop(), Text("ok"))
    assert chat.complete(HELLO).content == "ok"


def test_retries_give_up_after_max_attempts(server):
    model = OpenAIChat("m", base_url=server.url, retry_delay=0.01, max_attempts=3)
    server.script(Error(503), Error(502), Error(504), Text("never"))
    with pytest.raises(ModelError, match="after 3 attempts"):
        model.complete(HELLO)
    assert server.pending() == 1


def test_a_variant_sends_its_own_model_and_sampling_on_the_same_client(model, server):
    variant = model.variant(id="other-model", temperature=0.2, max_tokens=50)
    variant.complete([{"role": "user", "content": "hi"}])
    model.complete([{"role": "user", "content": "hi"}])
    sent = [(r["model"], r.get("temperature"), r.get("max_tokens")) for r in server.requests]
    assert sent == [("other-model", 0.2, 50), ("test-model", None, None)]
    assert variant.client() is model.client()


# -- plain HTTP endpoints --------------------------------------------------------------
@pytest.fixture
def https_server(tmp_path):
    """A Chat Completions server behind TLS with a self-signed certificate."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    with ChatServer(tls=tls) as srv:
        yield srv


def test_a_plain_http_endpoint_never_follows_a_redirect_to_unverified_https(
    chat, server, https_server
):
    server.default = lambda request: Redirect(f"{https_server.url}/chat/completions")
    with pytest.raises(ModelError, match="CERTIFICATE_VERIFY_FAILED"):
        chat.complete(HELLO)
    assert (len(server.requests), https_server.requests) == (4, [])  # retried, never reached
