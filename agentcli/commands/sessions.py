"""``agentcli sessions``: list, show, rename, delete, export and search threads."""

from __future__ import annotations

import typer

app = typer.Typer(
    no_args_is_help=True, help="List, show, rename, delete, export and search sessions."
)
