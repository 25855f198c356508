"""``/mcp``: ``agentcli mcp``'s tools on streamable HTTP, when ``mcp`` is installed.

The token check and the access log are the app's; the user of each request is
its ``X-Agentcli-User`` header, or the one user a bound server serves.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import FastAPI

from ..core.errors import UsageError
from .address import is_loopback
from .runner import Runner

Lifespan = Callable[[], AbstractAsyncContextManager[None]]


def mount_mcp(app: FastAPI, serving: Runner) -> Lifespan | None:
    """Route ``/mcp`` on ``app``; the lifespan to keep entered, or None without ``mcp``."""
    try:
        from ..mcp_server.server import build_server, http_endpoint
    except ImportError:  # the mcp extra is not installed: no /mcp
        return None
    bound = serving.config.user

    def resolve_user(request: Any) -> str:
        given = request.headers.get("x-agentcli-user") if request is not None else None
        if bound is not None and given and given != bound:
            raise UsageError(
                "this server serves one user only; requests naming another are refused"
            )
        user = bound or given
        if not user:
            raise UsageError("name the user in the X-Agentcli-User header")
        request.state.user_id = user
        return user

    loopback = is_loopback(serving.config.host)
    endpoint = http_endpoint(
        build_server(
            serving.db, memory_budget=serving.settings.memory_budget, resolve_user=resolve_user
        ),
        # Against DNS rebinding: a page in a browser must not reach a loopback server.
        allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"] if loopback else None,
    )
    # Starlette calls a route's endpoint that is not a function as an ASGI app.
    app.add_route("/mcp", endpoint.app, include_in_schema=False)  # type: ignore[arg-type]
    return endpoint.lifespan
