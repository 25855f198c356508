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


Step = Text | ToolCalls | Error | Drop | Hang | Raw | Redirect
Responder = Callable[[Request], Step]

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
    ):
        self.default = default
        self.chunked = chunked
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
        host, port = self._http.server_address[:2]
        return f"{self.scheme}://{host}:{port}/v1"

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

    def _next(self, body: dict[str, Any], headers: dict[str, str]) -> Step:
        purpose = {k.lower(): v for k, v in headers.items()}.get(PURPOSE_HEADER, "chat")
        request = Request(body, purpose)
        with self._lock:
            self.requests.append(request)
            self.headers.append(headers)
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

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._json(200, {"object": "list", "data": [{"id": "test-model"}]})
                else:
                    self._json(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._json(404, {"error": {"message": "not found"}})
                    return
                step = server._next(body, dict(self.headers))
                try:
                    self._answer(body, step)
                except (BrokenPipeError, ConnectionResetError):
                    pass

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
                if isinstance(step, ToolCalls):
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
                    completion = count_tokens(step.text)
                send([{"index": 0, "delta": {}, "finish_reason": finish}])
                if request.get("stream_options", {}).get("include_usage") and getattr(
                    step, "usage", True
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


def _args(args: Any) -> str:
    return args if isinstance(args, str) else json.dumps(args)
