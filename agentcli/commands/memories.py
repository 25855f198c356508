"""``agentcli memories``: what the agent knows about a user."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, help="List, search, add, edit and delete user memories.")
