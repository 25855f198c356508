"""``agentcli config``: where the config file is and what the settings are."""

from __future__ import annotations

from typing import Any

import typer

from ..config import config_path, data_dir, db_schema, db_target, login_name
from ..core.dburl import is_postgres_url, shown_target
from . import Subcommands
from .common import JsonOption, state

group = Subcommands()


@group.command()
def path(ctx: typer.Context) -> None:
    """Print the path of the configuration file (it may not exist yet)."""
    state(ctx).env.stdout.write(f"{config_path()}\n")


def _rows(settings: Any) -> list[tuple[str, Any, str]]:
    rows = []
    for name, value, source in settings.public_items():
        if name == "user" and value is None:
            value, source = login_name(), "login name"
        rows.append((name, value, source))
    return rows


def _shown(value: Any) -> str:
    if value is None:
        return "(not set)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):  # aliases
        return ", ".join(f"{k} = {v}" for k, v in value.items()) or "(none)"
    if isinstance(value, tuple):  # vision_models
        return ", ".join(value) or "(none)"
    return str(value)


@group.command()
def show(ctx: typer.Context, json_: JsonOption = False) -> None:
    """Show each setting, its value and its source (never the API key)."""
    st = state(ctx)
    settings = st.settings()
    file = config_path()
    paths = {
        "config_file": str(file),
        "config_file_exists": file.is_file(),
        "data_dir": str(data_dir()),
        "database": shown_target(db_target(st.db_override)),
    }
    rows = _rows(settings)
    if json_:
        items = {name: {"value": value, "source": source} for name, value, source in rows}
        st.env.print_json({**paths, "settings": items})
        return
    missing = "" if paths["config_file_exists"] else " (not found)"
    st.env.line(f"config file: {file}{missing}")
    st.env.line(f"database:    {paths['database']}")
    if is_postgres_url(paths["database"]):
        st.env.line(f"db schema:   {db_schema()}")
    st.env.line()
    st.env.table(
        ["SETTING", "VALUE", "SOURCE"],
        [[name, _shown(value), source] for name, value, source in rows],
    )
