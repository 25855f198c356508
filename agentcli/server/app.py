"""The FastAPI application: routes, error shapes, the request layers, start and stop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, TextIO

from fastapi import FastAPI, Request

from .. import __version__
from . import errors, memories, openai_api, runs, sessions
from .deps import runner
from .mcp_mount import Lifespan, mount_mcp
from .middleware import AccessLog, BearerToken, BodyLimit
from .runner import Runner


def create_app(serving: Runner, *, log: TextIO | None = None) -> FastAPI:
    """The app for one :class:`Runner`; its lifespan stops the runner's work at the end."""

    mcp: list[Lifespan] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        serving.loop = asyncio.get_running_loop()
        async with AsyncExitStack() as stack:
            for entered in mcp:
                await stack.enter_async_context(entered())
            yield
            await serving.stop()

    app = FastAPI(
        title="agentcli",
        version=__version__,
        summary="An agent that remembers: sessions and user memory over HTTP.",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.runner = serving
    errors.install(app)
    app.include_router(openai_api.router)
    app.include_router(runs.router)
    app.include_router(sessions.router)
    app.include_router(memories.router)
    app.add_api_route("/health", health, methods=["GET"], tags=["health"], summary="Liveness")
    mcp_lifespan = mount_mcp(app, serving)
    if mcp_lifespan is not None:
        mcp.append(mcp_lifespan)
    # The last added runs first: log, then token, then size limit.
    app.add_middleware(BodyLimit)
    app.add_middleware(BearerToken, token=serving.config.token)
    app.add_middleware(AccessLog, stream=log)
    return app


async def health(request: Request) -> dict[str, Any]:
    """No token needed: status, version and storage backend."""
    serving = runner(request)
    status = "stopping" if serving.stopping else "ok"
    return {"status": status, "version": __version__, "backend": serving.backend}
