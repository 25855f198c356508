"""The layers every request passes, as plain ASGI: the log line, the token, the size limit.

Plain ASGI rather than Starlette's ``BaseHTTPMiddleware``: a streamed reply
passes through untouched, and a layer costs a function call.
"""

from __future__ import annotations

import hmac
import json
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from typing import Any, TextIO

from .errors import body

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY = 4 * 1024 * 1024
OPEN_PATHS = frozenset({"/health"})


async def _answer(send: Send, status: int, payload: dict[str, Any], headers=()) -> None:
    data = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


def _printable(text: str) -> str:
    """Control characters escaped, so a user id or path cannot forge a log line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


class AccessLog:
    """One line per request on stderr: time, method, path, status, duration, user id.

    Never the query string (search words are the user's text), a body, a
    header or the token."""

    def __init__(self, app: App, stream: TextIO | None = None):
        self.app = app
        self.stream = stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            ms = (time.perf_counter() - started) * 1000
            user = scope.get("state", {}).get("user_id")
            when = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            line = (
                f"{when} {scope['method']} {_printable(scope['path'])} {status[0]} "
                f"{ms:.1f}ms user={_printable(user) if user is not None else '-'}\n"
            )
            out = self.stream or sys.stderr
            out.write(line)
            out.flush()


class BearerToken:
    """With a token, every path but /health needs ``Authorization: Bearer <token>``."""

    def __init__(self, app: App, token: str | None):
        self.app = app
        self.token = token.encode() if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.token is None or scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        given = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                given = value
                break
        scheme, _, credential = given.partition(b" ")
        if scheme.lower() == b"bearer" and hmac.compare_digest(credential.strip(), self.token):
            await self.app(scope, receive, send)
            return
        message = "a valid bearer token is required (Authorization: Bearer <token>)"
        await _answer(
            send,
            401,
            body(message, "authentication_error", "invalid_token"),
            [(b"www-authenticate", b"Bearer")],
        )


class BodyLimit:
    """A request body over ``limit`` bytes is refused with 413 before anything reads it."""

    def __init__(self, app: App, limit: int = MAX_BODY):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await self._too_large(send)
                return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before its request was whole
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit:
                await self._too_large(send)
                return
            if not message.get("more_body"):
                break
        whole = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": whole, "more_body": False}
            return await receive()  # after the body: disconnect notices

        await self.app(scope, replay, send)

    async def _too_large(self, send: Send) -> None:
        message = f"the request body is larger than {self.limit // (1024 * 1024)} MB"
        await _answer(send, 413, body(message, "invalid_request_error", "body_too_large"))
