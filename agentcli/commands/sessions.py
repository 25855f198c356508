"""``agentcli sessions``: list, show, rename, delete, export and search threads."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from .. import views
from ..appstate import AppState
from ..core.errors import UsageError
from ..core.ranges import LAST_RUNS, LIST_LIMIT
from ..render import json_text, safe_text
from ..services.serialize import search_hit_json, session_document, session_json
from ..services.sessions import session_with_messages
from . import Subcommands
from .common import (
    ForceOption,
    JsonOption,
    OutputOption,
    SessionArg,
    SessionOption,
    UserOption,
    YesOption,
    confirm,
    session_id,
    state,
    write_private,
)
from .complete import session_ids
from .ranged import within

RenamedArg = Annotated[
    str, typer.Argument(help="The session id.", show_default=False, autocompletion=session_ids)
]

group = Subcommands()

AllUsersOption = Annotated[
    bool, typer.Option("--all-users", help="Every user's sessions, not only one user's.")
]
LimitOption = Annotated[
    int,
    typer.Option(
        "--limit", "-n", callback=within(LIST_LIMIT), help="Show at most this many; 0 shows all."
    ),
]


class ExportFormat(StrEnum):
    md = "md"
    json = "json"


def _scope(st: AppState, user: str | None, all_users: bool) -> str | None:
    """The user to filter by, or ``None`` for every user."""
    if all_users:
        if user is not None:
            raise UsageError("--user and --all-users cannot be used together")
        return None
    return st.user(user)


@group.command("list")
def list_(
    ctx: typer.Context,
    user: UserOption = None,
    all_users: AllUsersOption = False,
    limit: LimitOption = 20,
    json_: JsonOption = False,
) -> None:
    """List sessions, most recently used first."""
    st = state(ctx)
    db, scope = st.db(create=False), _scope(st, user, all_users)
    found = db.list_sessions(scope, limit=limit + 1 if limit else None)
    more = limit and len(found) > limit
    found = found[:limit] if limit else found
    if json_:
        st.env.print_json([session_json(s) for s in found])
    elif not found:
        st.env.info("no sessions")
    else:
        views.sessions_table(st.env, found, all_users=all_users)
        if more:  # on stderr: stdout stays the table
            st.env.info(f"{limit} of {db.count_sessions(scope)} sessions shown; -n 0 shows all")


@group.command()
def show(
    ctx: typer.Context,
    session: SessionArg = None,
    session_option: SessionOption = None,
    user: UserOption = None,
    last: Annotated[
        int | None,
        typer.Option("--last", callback=within(LAST_RUNS), help="Only the last N runs."),
    ] = None,
    pager: Annotated[
        bool,
        typer.Option(
            "--pager/--no-pager",
            help="In a terminal, page output taller than the screen through $PAGER (less -R).",
        ),
    ] = True,
    json_: JsonOption = False,
) -> None:
    """Show a session as a conversation, its summary first."""
    st = state(ctx)
    chosen = session_id(session, session_option)
    found, messages = session_with_messages(
        st.db(create=False), st.user(user), chosen, last_runs=last
    )
    settings = st.db().run_settings(found.pk)
    if json_:
        st.env.print_json(session_document(found, messages, run_settings=settings))
    else:
        from ..pager import paged

        with paged(st.env, pager) as env:
            views.show_session(env, found, messages, run_settings=settings)


@group.command()
def rename(
    ctx: typer.Context,
    session: RenamedArg,
    name: Annotated[str, typer.Argument(help="The new name.", show_default=False)],
    user: UserOption = None,
    json_: JsonOption = False,
) -> None:
    """Give a session a name."""
    if not name.strip():
        raise UsageError("the name must not be empty")
    st = state(ctx)
    renamed = st.db(create=False).rename_session(st.user(user), session, name)
    if json_:
        st.env.print_json(session_json(renamed))
    else:
        st.env.line(f"renamed {renamed.session_id}: {renamed.name}")


@group.command()
def delete(
    ctx: typer.Context,
    session: SessionArg = None,
    session_option: SessionOption = None,
    user: UserOption = None,
    yes: YesOption = False,
    json_: JsonOption = False,
) -> None:
    """Delete a session with its runs and messages (memories are kept)."""
    st = state(ctx)
    db = st.db(create=False)  # nothing to delete in a database not made yet
    found = db.require_session(st.user(user), session_id(session, session_option))
    size = views.runs_count(found.runs)
    question = f"Delete session {found.session_id} ({size}) of {found.user_id}?"
    if not confirm(st, question, yes):
        st.env.info("nothing deleted")
        raise typer.Exit(1)
    db.delete_session(found.user_id, found.session_id)
    if json_:
        st.env.print_json(session_json(found))
    else:
        st.env.line(f"deleted session {found.session_id} ({size})")


@group.command()
def export(
    ctx: typer.Context,
    session: SessionArg = None,
    session_option: SessionOption = None,
    user: UserOption = None,
    format_: Annotated[
        ExportFormat, typer.Option("--format", "-f", help="Markdown or JSON.")
    ] = ExportFormat.md,
    output: OutputOption = None,
    force: ForceOption = False,
) -> None:
    """Export a session as Markdown or JSON."""
    st = state(ctx)
    chosen = session_id(session, session_option)
    found, messages = session_with_messages(st.db(create=False), st.user(user), chosen)
    settings = st.db().run_settings(found.pk)
    if format_ is ExportFormat.json:
        text = json_text(session_document(found, messages, full=True, run_settings=settings))
    else:
        text = views.markdown_export(found, messages, run_settings=settings)
    if output is None or str(output) == "-":
        # Piped or to a file: exactly as stored. On a terminal: made inert.
        st.env.stdout.write(safe_text(text) if st.env.stdout_isatty else text)
        st.env.stdout.flush()
        return
    write_private(output, text, force=force)
    st.env.info(f"exported {found.session_id} to {output}")


@group.command()
def search(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="Words to find in messages.", show_default=False)],
    user: UserOption = None,
    all_users: AllUsersOption = False,
    limit: LimitOption = 20,
    json_: JsonOption = False,
) -> None:
    """Search message text, best match first."""
    st = state(ctx)
    if not query.strip():
        raise UsageError("the query is empty")
    # One row more than shown tells whether the list was cut.
    hits = st.db(create=False).search_messages(
        query, _scope(st, user, all_users), limit=limit + 1 if limit else -1
    )
    cut = bool(limit) and len(hits) > limit
    hits = hits[:limit] if limit else hits
    if json_:
        st.env.print_json([search_hit_json(h) for h in hits])
    elif not hits:
        st.env.info("no matches")
    else:
        views.search_table(st.env, hits, all_users=all_users)
        if cut:
            st.env.info(f"the best {limit} matches shown; -n 0 shows all")
