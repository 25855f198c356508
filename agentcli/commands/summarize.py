"""``agentcli summarize``: bring a session's rolling summary up to date."""

from __future__ import annotations

import typer


def summarize(ctx: typer.Context) -> None:
    """Bring a session's summary up to date and print it."""
    raise typer.Exit(0)
