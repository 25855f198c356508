"""The MCP server object, over stdio or mounted in an HTTP server.

:func:`build_server` makes a low-level ``mcp`` server offering the tools of
``specs.py`` (run by ``tools.py``) and one resource, ``memory://USER`` (the user's memories as
Markdown). Which user a request acts for is decided by a *user resolver*, a
function given the transport's request: ``None`` over stdio, the Starlette
``Request`` over streamable HTTP. It returns the user id or raises an
:class:`~agentcli.core.errors.AgentCliError` whose message the client sees.
:func:`run_stdio` serves one user over stdin/stdout (``agentcli mcp``);
:func:`http_endpoint` gives what an HTTP server needs to offer the same server
at a path such as ``/mcp``.

Store calls run in worker threads (a store is shared by threads under its own
lock), so one slow query does not stall the other requests of an HTTP server.
Nothing here writes to stdout, which carries the protocol over stdio.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, NamedTuple
from urllib.parse import quote

import anyio
import anyio.to_thread
from mcp.server import Server, ServerRequestContext
from mcp.server.stdio import stdio_server
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPError
from mcp.types import (
    INVALID_PARAMS,
    CallToolRequestParams,
    CallToolResult,
    ListResourcesResult,
    ListToolsResult,
    PaginatedRequestParams,
    ReadResourceRequestParams,
    ReadResourceResult,
    Resource,
    TextContent,
    TextResourceContents,
    Tool,
    ToolAnnotations,
)

from .. import __version__
from ..core.errors import AgentCliError
from ..core.protocols import Store
from ..core.tools import ToolError
from .specs import INSTRUCTIONS, TOOLS, ToolSpec
from .tools import MemoryTools

UserResolver = Callable[[Any], str]
"""Given the transport's request (``None`` over stdio, a Starlette ``Request`` over
HTTP), the user id the request acts for; raises ``AgentCliError`` to refuse it."""


def memory_uri(user_id: str) -> str:
    """The resource holding a user's memories: ``memory://sarah``."""
    return "memory://" + quote(user_id, safe="@.-_~+")


def build_server(store: Store, *, memory_budget: int, resolve_user: UserResolver) -> Server[Any]:
    """An MCP server offering the memory tools and the ``memory://USER`` resource.

    ``memory_budget`` is the default token budget of ``recall`` (the configured
    ``memory_budget``); ``resolve_user`` names the user of each request (see
    :data:`UserResolver`). Serve it with :func:`run_stdio`-style code over any
    stream pair, or over HTTP with :func:`http_endpoint`.
    """
    tools = MemoryTools(store, memory_budget=memory_budget)
    listed = ListToolsResult(tools=[_tool(spec) for spec in TOOLS])

    async def list_tools(
        ctx: ServerRequestContext[Any], params: PaginatedRequestParams | None
    ) -> ListToolsResult:
        return listed

    async def call_tool(
        ctx: ServerRequestContext[Any], params: CallToolRequestParams
    ) -> CallToolResult:
        try:
            user_id = resolve_user(ctx.request)
            data = await anyio.to_thread.run_sync(
                tools.call, user_id, params.name, params.arguments
            )
        except (ToolError, AgentCliError) as exc:
            return _error(str(exc))
        except Exception as exc:
            # A bug, or a driver error no adapter translated: the model is told,
            # the server keeps serving, the details go to stderr.
            _report(f"tool {params.name}", exc)
            return _error(f"internal error ({type(exc).__name__}); the server log has details")
        return CallToolResult(
            content=[TextContent(type="text", text=json.dumps(data, ensure_ascii=False))],
            structured_content=data,
        )

    async def list_resources(
        ctx: ServerRequestContext[Any], params: PaginatedRequestParams | None
    ) -> ListResourcesResult:
        user_id = _user(resolve_user, ctx)
        return ListResourcesResult(
            resources=[
                Resource(
                    uri=memory_uri(user_id),
                    name="memories",
                    title=f"Memories of {user_id}",
                    description="What agentcli remembers about the user, oldest first, "
                    "each with its id and topics.",
                    mime_type="text/markdown",
                )
            ]
        )

    async def read_resource(
        ctx: ServerRequestContext[Any], params: ReadResourceRequestParams
    ) -> ReadResourceResult:
        user_id = _user(resolve_user, ctx)
        if params.uri != memory_uri(user_id):
            raise MCPError(INVALID_PARAMS, f"resource {params.uri} not found", {"uri": params.uri})
        try:
            text = await anyio.to_thread.run_sync(tools.memories_markdown, user_id)
        except AgentCliError as exc:
            raise MCPError(INVALID_PARAMS, str(exc)) from None
        return ReadResourceResult(
            contents=[TextResourceContents(uri=params.uri, text=text, mime_type="text/markdown")]
        )

    return Server(
        "agentcli",
        version=__version__,
        title="agentcli memory",
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_read_resource=read_resource,
    )


def run_stdio(store: Store, user_id: str, *, memory_budget: int) -> None:
    """Serve ``user_id``'s memory over stdin/stdout until the client closes stdin."""
    server = build_server(store, memory_budget=memory_budget, resolve_user=lambda _: user_id)

    async def serve() -> None:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())

    anyio.run(serve)


class HttpEndpoint(NamedTuple):
    """An MCP server on streamable HTTP: route ``app`` (an ASGI app) at one path,
    e.g. ``app.add_route("/mcp", endpoint.app)`` in FastAPI or Starlette, and keep
    ``lifespan()`` entered while the HTTP server runs (in the HTTP app's lifespan:
    a mounted app's own lifespan is never run)."""

    app: StreamableHTTPASGIApp
    lifespan: Callable[[], AbstractAsyncContextManager[None]]


def http_endpoint(server: Server[Any], *, allowed_hosts: list[str] | None = None) -> HttpEndpoint:
    """``server`` as a stateless streamable-HTTP endpoint answering in JSON.

    Authentication is the HTTP server's: put the endpoint behind its token check.
    ``allowed_hosts`` (e.g. ``["127.0.0.1:*", "localhost:*"]``) turns on the SDK's
    Host/Origin check against DNS rebinding; ``None`` leaves it off.
    """
    security = (
        TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=allowed_hosts,
            allowed_origins=[f"http://{host}" for host in allowed_hosts],
        )
        if allowed_hosts
        else None
    )
    manager = StreamableHTTPSessionManager(
        app=server, stateless=True, json_response=True, security_settings=security
    )
    return HttpEndpoint(StreamableHTTPASGIApp(manager), manager.run)


def _tool(spec: ToolSpec) -> Tool:
    return Tool(
        name=spec.name,
        title=spec.title,
        description=spec.description,
        input_schema=spec.input_schema,
        annotations=ToolAnnotations(
            title=spec.title,
            read_only_hint=spec.read_only,
            destructive_hint=None if spec.read_only else spec.destructive,
            idempotent_hint=None if spec.read_only else spec.idempotent,
            open_world_hint=False,
        ),
    )


def _error(message: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=message)], is_error=True)


def _user(resolve_user: UserResolver, ctx: ServerRequestContext[Any]) -> str:
    try:
        return resolve_user(ctx.request)
    except AgentCliError as exc:
        raise MCPError(INVALID_PARAMS, str(exc)) from None


def _report(where: str, exc: BaseException) -> None:
    """One line on stderr (the whole traceback under ``AGENTCLI_DEBUG``)."""
    if os.environ.get("AGENTCLI_DEBUG"):
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    first = str(exc).splitlines()[0] if str(exc) else ""
    print(f"agentcli: error: {where}: unexpected {type(exc).__name__}: {first}", file=sys.stderr)
