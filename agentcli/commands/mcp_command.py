"""``agentcli mcp``: serve one user's memory and sessions to MCP clients over stdio."""

from __future__ import annotations

from typing import Annotated

import typer

from ..core.errors import ConfigError
from .common import UserOption, state


def mcp(
    ctx: typer.Context,
    user: UserOption = None,
    db: Annotated[
        str | None,
        typer.Option("--db", help="Database file [env: AGENTCLI_DB]", show_default=False),
    ] = None,
    memory_budget: Annotated[
        int | None,
        typer.Option(
            help="Tokens of memories `recall` returns unless asked otherwise "
            "[default: the configured memory_budget, 1500]",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Serve a user's memories and sessions to MCP clients over stdio."""
    st = state(ctx)
    if db is not None:
        st.db_override = db
    user_id = st.user(user)
    settings = st.settings(memory_budget=memory_budget)
    # Opened before the protocol starts: a bad file is one line on stderr and an
    # exit status, before the SDK (slow to import) is even loaded.
    store = st.db()
    try:
        from ..mcp_server.server import run_stdio
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith(("mcp", "anyio", "starlette", "pydantic")):
            raise
        raise ConfigError("agentcli mcp needs the MCP SDK: pip install 'agentcli[mcp]'") from None
    run_stdio(store, user_id, memory_budget=settings.memory_budget)
