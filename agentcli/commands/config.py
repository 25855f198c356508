"""``agentcli config``: where the config file is and what the settings are."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, help="Show the configuration file and settings.")
