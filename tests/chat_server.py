"""A scripted Chat Completions server on 127.0.0.1 for tests and benchmarks.

It speaks enough of the protocol for the real ``openai`` SDK: JSON and
streamed (SSE) answers, tool calls (streamed in fragments), usage, and
injected failures. Each request takes the next scripted step; with none left
it answers with ``default(request)``, which echoes the last user message.
A request is recorded as a :class:`~scripted_model.Request`: its JSON body,
and the ``purpose`` ``OpenAIChat`` sent in the ``X-Agentcli-Purpose`` header
(a manager call or a fold is told from a chat by it, never by its prompt).
The answers shared with the in-process model (:class:`Text`,
:class:`ToolCalls`) come from ``scripted_model``; the failures here are HTTP's.

Quirks of real servers, switched on by :class:`Quirks` (``ChatServer(quirks=...)``):

- ``strict``: messages are validated like llama-cpp-python's server does
  (content must be a string, never null; tool calls well formed), HTTP 500;
- ``no_tools``: a request offering tools is refused like ``llama-server``
  without ``--jinja``: HTTP 500 ``tools param requires --jinja flag``;
- ``n_ctx``: a context window, reported by ``GET /props`` like llama.cpp
  (unless ``props`` is off); a larger request is refused like llama.cpp, as
  HTTP 400 or (``context_error="stream"``) as an error event in a stream;
  ``chars_per_token`` sets how the server counts;
- ``stream_usage``: off, streams carry no usage (llama-cpp-python);
- ``tool_choice_needed``: tools are ignored unless ``tool_choice`` is sent;
  ``streamed_tools``: ``"error"`` refuses a streamed request offering tools
  with "Automatic streaming tool choice is not supported", ``"drop"`` begins
  the stream and closes it;
- ``v1_only``: only paths under ``/v1`` answer (to test a base URL without it).

Steps for the rest: :class:`Endless` (a model that never stops before
``max_tokens``), :class:`Stall` (text, then only SSE comment pings).
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from scripted_model import (
    Request,
    Text,
    ToolCalls,
    count_tokens,
    echo,
    last_user,
    prompt_tokens,
)

__all__ = [
    "ChatServer",
    "Drop",
    "Endless",
    "Quirks",
    "Stall",
    "propose_reply_as_memory",
    "Error",
    "Hang",
    "Raw",
    "Redirect",
    "Request",
    "Text",
    "ToolCalls",
    "count_tokens",
    "echo",
    "last_user",
    "prompt_tokens",
]


@dataclass
class Error:
    status: int
    message: str = "injected failure"
    headers: dict[str, str] = field(default_factory=lambda: {"retry-after-ms": "10"})


@dataclass
class Drop:
    """Close the connection: before any answer, or mid-stream after ``text``.

    With ``streamed`` the stream begins (headers, a first empty chunk) before
    the close even when ``text`` is empty.
    """

    text: str = ""
    streamed: bool = False


@dataclass
class Hang:
    """Answer nothing for ``seconds``."""

    seconds: float = 30.0


@dataclass
class Raw:
    """Send these bytes as the body with status 200 (for malformed answers)."""

    body: bytes
    content_type: str = "application/json"
    sse: bool = False


@dataclass
class Redirect:
    """Answer with a redirect to ``location``."""

    location: str
    status: int = 307


@dataclass
class Endless:
    """A degenerate model: ``word`` (one token) until ``max_tokens``, then ``length``;
    without ``max_tokens`` it goes on for ``limit`` tokens."""

    word: str = "la "
    limit: int = 100_000
    delay: float = 0.0


@dataclass
class Stall:
    """Stream ``text``, then send only ``: ping`` comments every ``ping`` seconds for
    ``seconds``, then finish. The server notes when its client went away."""

    text: str = "Thinking"
    seconds: float = 30.0
    ping: float = 0.1


Step = Text | ToolCalls | Error | Drop | Hang | Raw | Redirect | Endless | Stall
Responder = Callable[[Request], Step]


@dataclass
class Quirks:
    """Behaviours of real OpenAI-compatible servers (see the module's docstring)."""

    strict: bool = False
    no_tools: bool = False
    n_ctx: int | None = None
    props: bool = True
    context_error: str = "http"  # or "stream"
    chars_per_token: int = 4
    stream_usage: bool = True
    tool_choice_needed: bool = False
    streamed_tools: str | None = None  # "error" or "drop"
    v1_only: bool = False


def server_tokens(request: dict[str, Any], chars_per_token: int) -> int:
    """The prompt's size as a quirky server counts it (``chars_per_token``, tools too)."""
    total = 0
    for message in request.get("messages", []):
        content = message.get("content")
        text = content if isinstance(content, str) else ""
        total += max(1, len(text) // chars_per_token) if text else 0
        for call in message.get("tool_calls") or []:
            total += len(str(call.get("function", {}).get("arguments", ""))) // chars_per_token
    if request.get("tools"):
        total += len(json.dumps(request["tools"])) // chars_per_token
    return total


def strict_problem(request: dict[str, Any]) -> str | None:
    """What a strict server (llama-cpp-python's pydantic models) rejects in a request."""
    for i, message in enumerate(request.get("messages", [])):
        role = message.get("role")
        if role not in ("system", "user", "assistant", "tool"):
            return f"messages.{i}.role: Input should be 'system', 'user', 'assistant' or 'tool'"
        if not isinstance(message.get("content"), str):
            return f"messages.{i}.content: Input should be a valid string"
        if role == "tool" and not isinstance(message.get("tool_call_id"), str):
            return f"messages.{i}.tool_call_id: Field required"
        for j, call in enumerate(message.get("tool_calls") or []):
            function = call.get("function") or {}
            if call.get("type") != "function" or not isinstance(call.get("id"), str):
                return f"messages.{i}.tool_calls.{j}: Input should be a valid tool call"
            if not isinstance(function.get("name"), str) or not isinstance(
                function.get("arguments"), str
            ):
                return f"messages.{i}.tool_calls.{j}.function: Input should be a valid string"
    return None


def propose_reply_as_memory(request: Request) -> Step:
    """A memory manager that takes the assistant's first sentence for a fact about the user."""
    content = request.messages[-1]["content"]
    reply = content.split("<assistant>\n", 1)[-1].split("\n</assistant>", 1)[0]
    sentence = reply.split(". ")[0].rstrip(".") + "."
    return ToolCalls([("add_memory", {"memory": sentence})])


# The header OpenAIChat sends the purpose of each call in ("chat", "memory", "summary").
PURPOSE_HEADER = "x-agentcli-purpose"


class ChatServer:
    """``chunked``: streamed answers use chunked transfer encoding, as most real
    servers do, so a dropped stream is a protocol error rather than an early end."""

    def __init__(
        self,
        default: Responder = echo,
        *,
        chunked: bool = False,
        tls: ssl.SSLContext | None = None,
        quirks: Quirks | None = None,
    ):
        self.default = default
        self.chunked = chunked
        self.quirks = quirks or Quirks()
        self.gets: list[str] = []  # paths of GET requests and of POSTs that are not chats
        self.refused: list[str] = []  # why each refused request was refused
        self.client_gone: list[float] = []  # when a stalled stream's client went away
        self.model_info: dict[str, Any] = {}  # more fields of the model in GET /models
        self.model_ids = ["test-model"]  # the models GET /models lists
        # Each request's body, with its ``purpose`` (from the purpose header, else
        # "chat"), and its headers at the same index.
        self.requests: list[Request] = []
        self.headers: list[dict[str, str]] = []
        self._steps: list[Step | Responder] = []
        self._lock = threading.Lock()
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._http.daemon_threads = True
        self.scheme = "http"
        if tls is not None:  # serve HTTPS with this (server side) context
            self._http.socket = tls.wrap_socket(self._http.socket, server_side=True)
            self.scheme = "https"
        # stop() waits for up to one poll interval; most tests stop a server.
        self._thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"{self.root}/v1"

    @property
    def root(self) -> str:
        host, port = self._http.server_address[:2]
        return f"{self.scheme}://{host}:{port}"

    def start(self) -> ChatServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()

    def __enter__(self) -> ChatServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def script(self, *steps: Step | Responder) -> None:
        with self._lock:
            self._steps.extend(steps)

    def pending(self) -> int:
        with self._lock:
            return len(self._steps)

    def purposes(self) -> list[str]:
        """The purpose of each request so far, in order."""
        with self._lock:
            return [r.purpose for r in self.requests]

    def _record(self, body: dict[str, Any], headers: dict[str, str]) -> Request:
        purpose = {k.lower(): v for k, v in headers.items()}.get(PURPOSE_HEADER, "chat")
        request = Request(body, purpose)
        with self._lock:
            self.requests.append(request)
            self.headers.append(headers)
        return request

    def _next(self, request: Request) -> Step:
        with self._lock:
            step = self._steps.pop(0) if self._steps else self.default
        return step(request) if callable(step) else step

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # small writes go out at once (no 40 ms stalls)

            def setup(self) -> None:
                super().setup()
                # Small streamed writes must not wait for Nagle's algorithm.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, *args: Any) -> None:
                pass

            def _path_ok(self, suffix: str) -> bool:
                path = self.path.rstrip("/")
                if server.quirks.v1_only and not path.startswith("/v1/"):
                    return False
                return path.endswith(suffix)

            def do_GET(self) -> None:
                quirks = server.quirks
                with server._lock:
                    server.gets.append(self.path)
                if self._path_ok("/models"):
                    entries = [
                        {"id": name, "object": "model", "owned_by": "tests", **server.model_info}
                        for name in server.model_ids
                    ]
                    self._json(200, {"object": "list", "data": entries})
                elif self.path == "/props" and quirks.n_ctx and quirks.props:
                    settings = {"n_ctx": quirks.n_ctx, "temperature": 0.8}
                    self._json(200, {"default_generation_settings": settings})
                else:
                    self._json(404, {"error": {"message": "File Not Found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if not self._path_ok("/chat/completions"):
                    with server._lock:
                        server.gets.append(self.path)
                    self._json(404, {"error": {"message": "File Not Found"}})
                    return
                request = server._record(body, dict(self.headers))
                try:
                    refusal = self._refusal(body)
                    if refusal is not None:
                        with server._lock:
                            server.refused.append(refusal[1])
                        self._refuse(body, *refusal)
                        return
                    step = server._next(request)
                    if (
                        server.quirks.tool_choice_needed
                        and isinstance(step, ToolCalls)
                        and not body.get("tool_choice")
                    ):
                        step = Text(step.text or "I have nothing to call.")  # tools ignored
                    self._answer(body, step)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _refusal(self, body: dict[str, Any]) -> tuple[int, str] | None:
                """(status, message) when a quirk makes the server refuse this request."""
                quirks = server.quirks
                if quirks.strict:
                    problem = strict_problem(body)
                    if problem:
                        return 500, problem
                if quirks.no_tools and body.get("tools"):
                    return 500, "tools param requires --jinja flag"
                if quirks.streamed_tools and body.get("tools") and body.get("stream"):
                    if quirks.streamed_tools == "drop":
                        return 0, "streamed tools: connection dropped"
                    return 500, "Automatic streaming tool choice is not supported"
                if quirks.n_ctx:
                    used = server_tokens(body, quirks.chars_per_token)
                    if used + 1 > quirks.n_ctx:
                        return 400, (
                            f"request ({used} tokens) exceeds the available context size "
                            f"({quirks.n_ctx} tokens), try increasing it"
                        )
                return None

            def _refuse(self, body: dict[str, Any], status: int, message: str) -> None:
                if status == 0:  # as llama-cpp-python: the stream begins, then closes
                    self.send_response(200)
                    self.send_header("content-type", "text/event-stream")
                    self.send_header("connection", "close")
                    self.end_headers()
                    self.close_connection = True
                    first = {"choices": [{"index": 0, "delta": {"role": "assistant"}}]}
                    self.wfile.write(f"data: {json.dumps(first)}\n\n".encode())
                    self.wfile.flush()
                    self.connection.shutdown(2)
                    return
                error: dict[str, Any] = {"code": status, "message": message, "type": "server_error"}
                if "context size" in message:
                    error["type"] = "exceed_context_size_error"
                    error["n_ctx"] = server.quirks.n_ctx
                    error["n_prompt_tokens"] = int(message.split("(")[1].split()[0])
                    if server.quirks.context_error == "stream" and body.get("stream"):
                        self.send_response(200)
                        self.send_header("content-type", "text/event-stream")
                        self.send_header("connection", "close")
                        self.end_headers()
                        self.close_connection = True
                        self.wfile.write(f"data: {json.dumps({'error': error})}\n\n".encode())
                        self.wfile.flush()
                        return
                self._json(status, {"error": error}, {})

            def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _answer(self, request: dict[str, Any], step: Step) -> None:
                model = request.get("model", "test-model")
                stream = bool(request.get("stream"))
                if isinstance(step, Error):
                    self._json(
                        step.status,
                        {"error": {"message": step.message, "type": "server_error"}},
                        step.headers,
                    )
                    return
                if isinstance(step, Redirect):
                    self.send_response(step.status)
                    self.send_header("location", step.location)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                if isinstance(step, Hang):
                    time.sleep(step.seconds)
                    self.close_connection = True
                    return
                if isinstance(step, Raw):
                    self.send_response(200)
                    ctype = "text/event-stream" if step.sse else step.content_type
                    self.send_header("content-type", ctype)
                    self.send_header("content-length", str(len(step.body)))
                    self.end_headers()
                    self.wfile.write(step.body)
                    return
                if isinstance(step, Drop) and not step.text and not step.streamed:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if stream:
                    self._stream(request, model, step)
                else:
                    self._whole(request, model, step)

            def _whole(self, request, model, step):
                if isinstance(step, Endless | Stall):
                    step = Text(_endless_text(step, request), finish_reason=_finish(step, request))
                usage = {"prompt_tokens": prompt_tokens(request)}
                if isinstance(step, ToolCalls):
                    message = {
                        "role": "assistant",
                        "content": step.text or None,
                        "tool_calls": [
                            {
                                "id": f"call_{i}",
                                "type": "function",
                                "function": {"name": name, "arguments": _args(args)},
                            }
                            for i, (name, args) in enumerate(step.calls)
                        ],
                    }
                    finish = "tool_calls"
                    usage["completion_tokens"] = 10
                else:
                    message = {"role": "assistant", "content": step.text}
                    finish = step.finish_reason
                    usage["completion_tokens"] = count_tokens(step.text)
                usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
                payload = {
                    "id": "chatcmpl-test",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                    "usage": usage,
                }
                self._json(200, payload)

            def _stream(self, request, model, step):
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("cache-control", "no-cache")
                if server.chunked:
                    self.send_header("transfer-encoding", "chunked")
                else:
                    self.send_header("connection", "close")
                self.end_headers()
                self.close_connection = True

                def write(data: bytes) -> None:
                    if server.chunked:
                        data = b"%x\r\n%s\r\n" % (len(data), data)
                    self.wfile.write(data)
                    self.wfile.flush()

                def send(choices, usage=None):
                    chunk = {
                        "id": "chatcmpl-test",
                        "object": "chat.completion.chunk",
                        "created": int(time.time()),
                        "model": model,
                        "choices": choices,
                    }
                    if usage is not None:
                        chunk["usage"] = usage
                    write(f"data: {json.dumps(chunk)}\n\n".encode())

                send([{"index": 0, "delta": {"role": "assistant", "content": ""}}])
                if isinstance(step, Drop):
                    if step.text:
                        send([{"index": 0, "delta": {"content": step.text}}])
                    self.connection.shutdown(2)
                    return
                completion = 10
                if isinstance(step, Stall):
                    send([{"index": 0, "delta": {"content": step.text}}])
                    until = time.monotonic() + step.seconds
                    try:
                        while time.monotonic() < until:
                            time.sleep(step.ping)
                            write(b": ping\n\n")
                    except OSError:
                        with server._lock:
                            server.client_gone.append(time.monotonic())
                        return
                    step = Text("")
                if isinstance(step, Endless):
                    cap = request.get("max_tokens") or request.get("max_completion_tokens")
                    count = min(cap or step.limit, step.limit)
                    try:
                        for _ in range(count):
                            if step.delay:
                                time.sleep(step.delay)
                            send([{"index": 0, "delta": {"content": step.word}}])
                    except OSError:
                        with server._lock:
                            server.client_gone.append(time.monotonic())
                        return
                    finish = "length" if cap and cap <= step.limit else "stop"
                    completion = count
                elif isinstance(step, ToolCalls):
                    if step.text:
                        send([{"index": 0, "delta": {"content": step.text}}])
                    for i, (name, args) in enumerate(step.calls):
                        raw = _args(args)
                        head = {
                            "index": i,
                            "id": f"call_{i}",
                            "type": "function",
                            "function": {"name": name, "arguments": ""},
                        }
                        send([{"index": 0, "delta": {"tool_calls": [head]}}])
                        for start in range(0, len(raw), 7):
                            frag = {"index": i, "function": {"arguments": raw[start : start + 7]}}
                            send([{"index": 0, "delta": {"tool_calls": [frag]}}])
                    finish = "tool_calls"
                else:
                    for start in range(0, len(step.text), step.chunk):
                        if step.delay:
                            time.sleep(step.delay)
                        piece = step.text[start : start + step.chunk]
                        send([{"index": 0, "delta": {"content": piece}}])
                    finish = step.finish_reason
                    # An empty text (the end of a stall) still cost a few tokens.
                    completion = count_tokens(step.text) or completion
                send([{"index": 0, "delta": {}, "finish_reason": finish}])
                if (
                    request.get("stream_options", {}).get("include_usage")
                    and getattr(step, "usage", True)
                    and server.quirks.stream_usage
                ):
                    pt = prompt_tokens(request)
                    send(
                        [],
                        {
                            "prompt_tokens": pt,
                            "completion_tokens": completion,
                            "total_tokens": pt + completion,
                        },
                    )
                write(b"data: [DONE]\n\n")
                if server.chunked:
                    write(b"")  # the last, empty chunk

        return Handler


def _endless_text(step: Endless | Stall, request: dict[str, Any]) -> str:
    if isinstance(step, Stall):
        return step.text
    cap = request.get("max_tokens") or request.get("max_completion_tokens") or step.limit
    return step.word * min(cap, step.limit)


def _finish(step: Endless | Stall, request: dict[str, Any]) -> str:
    cap = request.get("max_tokens") or request.get("max_completion_tokens")
    return "length" if isinstance(step, Endless) and cap and cap <= step.limit else "stop"


def _args(args: Any) -> str:
    return args if isinstance(args, str) else json.dumps(args)
