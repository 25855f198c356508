"""``agentcli serve``: the same sessions and memory behind an HTTP API."""

from __future__ import annotations

from typing import Annotated

import typer

from ..core.errors import UsageError
from ..core.ranges import PORT, SHUTDOWN_TIMEOUT, THREADS
from .common import EndpointOption, ModelOption, state
from .ranged import within


def serve(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option(help="Address to listen on; other than loopback needs a token.")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(callback=within(PORT), help="Port (0: any free one).")
    ] = 7777,
    token: Annotated[
        str | None,
        typer.Option(
            help="Bearer token every request but /health must send [env: AGENTCLI_SERVER_TOKEN]",
            show_default=False,
        ),
    ] = None,
    user: Annotated[
        str | None,
        typer.Option(
            "--user", "-u", help="Serve this one user only; requests naming another get 403."
        ),
    ] = None,
    model: ModelOption = None,
    endpoint: EndpointOption = None,
    history_runs: Annotated[
        int | None,
        typer.Option(help="Past runs sent with each message; 0 turns history off [default: 5]"),
    ] = None,
    memory: Annotated[
        str | None,
        typer.Option(help="Memory mode: agentic, automatic or off [default: agentic]"),
    ] = None,
    memory_model: Annotated[
        str | None, typer.Option(help="Model for the automatic memory manager.")
    ] = None,
    summaries: Annotated[
        bool | None,
        typer.Option("--summaries/--no-summaries", help="Fold older runs into a summary."),
    ] = None,
    threads: Annotated[
        int,
        typer.Option(
            callback=within(THREADS), help="Replies generated at once; more wait their turn."
        ),
    ] = 32,
    shutdown_timeout: Annotated[
        float,
        typer.Option(
            callback=within(SHUTDOWN_TIMEOUT),
            help="On SIGTERM, seconds replies under way get to finish (then interrupted).",
        ),
    ] = 30.0,
) -> None:
    """Serve the agent over HTTP: a native API and an OpenAI-compatible endpoint."""
    st = state(ctx)
    if user is not None and not user.strip():
        raise UsageError("the user id must not be empty")
    settings = st.settings(
        model=model,
        history_runs=history_runs,
        memory=memory,
        memory_model=memory_model,
        summaries=summaries,
        server_token=token,
        endpoint=endpoint,
    )
    from ..server.address import check_bind

    check_bind(host, settings.server_token)  # before loading the server's packages
    from ..server.main import serve as run_server
    from ..server.runner import ServerConfig

    run_server(
        ServerConfig(
            settings=settings,
            db=st.db_override,
            host=host,
            port=port,
            token=settings.server_token or None,
            user=user,
            threads=threads,
            shutdown_timeout=shutdown_timeout,
        )
    )
