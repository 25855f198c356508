"""``agentcli db``: copy a database into another, and show what one holds."""

from __future__ import annotations

from typing import Annotated

import typer

from ..core.errors import UsageError
from . import Subcommands
from .common import JsonOption, state

group = Subcommands()


@group.command()
def copy(
    ctx: typer.Context,
    destination: Annotated[
        str,
        typer.Option(
            "--to", help="Database to copy into (file or PostgreSQL URL).", show_default=False
        ),
    ],
    source: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="Database to copy from (file or PostgreSQL URL) [default: the configured one]",
            show_default=False,
        ),
    ] = None,
    json_: JsonOption = False,
) -> None:
    """Copy every session, memory and summary into another database."""
    from ..config import db_target
    from ..core.dburl import shown_target
    from ..runtime import open_store
    from ..services.transfer import copy_store

    st = state(ctx)
    src_name = db_target(source or st.db_override)
    dst_name = db_target(destination)
    if src_name == dst_name:
        raise UsageError("--from and --to name the same database")
    src = open_store(src_name, create=False)  # a missing source is read as empty
    try:
        dst = open_store(dst_name)
        try:
            counts = copy_store(src, dst)
        finally:
            dst.close()
    finally:
        src.close()
    shown_from, shown_to = shown_target(src_name), shown_target(dst_name)
    if json_:
        st.env.print_json({"from": shown_from, "to": shown_to, "copied": counts._asdict()})
        return
    from ..core.text import plural

    st.env.line(
        f"copied {plural(counts.sessions, 'session')}, {plural(counts.runs, 'run')}, "
        f"{plural(counts.messages, 'message')}, {plural(counts.model_calls, 'model call')}, "
        f"{plural(counts.memories, 'memory', 'memories')} and "
        f"{plural(counts.memory_events, 'memory event')}"
    )
    st.env.line(f"from {shown_from}")
    st.env.line(f"to   {shown_to}")


@group.command()
def info(ctx: typer.Context, json_: JsonOption = False) -> None:
    """Show the database's backend, schema version and row counts."""
    st = state(ctx)
    found = st.db(create=False).info()
    if json_:
        st.env.print_json(
            {
                "backend": found.backend,
                "database": found.location,
                "schema_version": found.schema_version,
                "counts": found.counts,
            }
        )
        return
    st.env.line(f"backend:        {found.backend}")
    st.env.line(f"database:       {found.location}")
    st.env.line(f"schema version: {found.schema_version}")
    st.env.line()
    st.env.table(["TABLE", "ROWS"], [[name, str(n)] for name, n in found.counts.items()])
