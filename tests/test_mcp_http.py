"""The MCP server on streamable HTTP, as an HTTP server offers it at ``/mcp``.

Real uvicorn on a loopback port, the ``mcp`` SDK's streamable-HTTP client,
the user of each request taken from its ``X-Agentcli-User`` header.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import anyio
import httpx2
import pytest
import uvicorn
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from starlette.applications import Starlette
from starlette.routing import Route

from agentcli.adapters.sqlite import SqliteDb
from agentcli.config import db_path
from agentcli.core.errors import UsageError
from agentcli.mcp_server.server import build_server, http_endpoint


def header_user(request: Any) -> str:
    user = request.headers.get("x-agentcli-user") if request is not None else None
    if not user:
        raise UsageError("name the user in the X-Agentcli-User header")
    return user


@pytest.fixture
def url() -> Iterator[str]:
    """The URL of ``/mcp`` on a uvicorn server running in a thread."""
    with SqliteDb(db_path()) as store:
        endpoint = http_endpoint(
            build_server(store, memory_budget=1500, resolve_user=header_user),
            allowed_hosts=["127.0.0.1:*"],
        )
        app = Starlette(
            routes=[Route("/mcp", endpoint.app)], lifespan=lambda _: endpoint.lifespan()
        )
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error"))
        thread = threading.Thread(target=server.run)
        thread.start()
        try:
            deadline = time.monotonic() + 30
            while not server.started:
                assert thread.is_alive() and time.monotonic() < deadline
                time.sleep(0.02)
            port = server.servers[0].sockets[0].getsockname()[1]
            yield f"http://127.0.0.1:{port}/mcp"
        finally:
            server.should_exit = True
            thread.join(30)


async def call(session: ClientSession, name: str, **arguments: Any) -> Any:
    result = await session.call_tool(name, arguments)
    text = result.content[0].text
    return ("error", text) if result.is_error else json.loads(text)


def as_user(url: str, user: str | None, steps: Any) -> Any:
    headers = {"X-Agentcli-User": user} if user else {}

    async def main() -> Any:
        async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
            async with streamable_http_client(url, http_client=http) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    return await steps(session)

    return anyio.run(main)


def test_each_request_acts_for_the_user_its_header_names(url):
    async def remember(session: ClientSession) -> Any:
        return await call(session, "remember", memory="Sarah likes tea.")

    async def look(session: ClientSession) -> Any:
        return (
            await call(session, "list_memories"),
            await call(session, "forget", memory_id=1),
        )

    assert as_user(url, "sarah", remember)["message"] == "added memory 1"
    listed, forgotten = as_user(url, "bob", look)
    assert (listed["total"], forgotten) == (0, ("error", "memory 1 not found"))
    with SqliteDb(db_path()) as db:
        assert [
            (m.memory, e.actor)
            for m in db.list_memories("sarah")
            for e in db.memory_events("sarah", m.id)
        ] == [("Sarah likes tea.", "mcp")]


def test_a_request_without_a_user_is_a_tool_error(url):
    answer = as_user(url, None, lambda s: call(s, "recall", query="tea"))
    assert answer == ("error", "name the user in the X-Agentcli-User header")


def test_a_foreign_host_header_is_refused(url):
    reply = httpx2.post(
        url,
        headers={"Host": "evil.example", "Content-Type": "application/json"},
        content=b'{"jsonrpc": "2.0", "id": 1, "method": "ping"}',
    )
    assert reply.status_code in (403, 421)
