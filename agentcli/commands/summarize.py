"""``agentcli summarize``: bring a session's rolling summary up to date."""

from __future__ import annotations

from typing import Annotated

import typer

from ..appstate import AppState
from ..core.text import plural
from ..services.serialize import summary_json
from .common import JsonOption, SessionArg, SessionOption, UserOption, session_id, state


def summarize(
    ctx: typer.Context,
    session: SessionArg = None,
    session_option: SessionOption = None,
    user: UserOption = None,
    show: Annotated[
        bool, typer.Option("--show", help="Print the stored summary; call no model.")
    ] = False,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Model name [env: AGENTCLI_MODEL]")
    ] = None,
    json_: JsonOption = False,
) -> None:
    """Bring a session's summary up to date with every completed run and print it."""
    from ..services.summary import stored_summary

    st = state(ctx)
    session = session_id(session, session_option)
    user_id = st.user(user)
    db = st.db(create=not show)
    result = stored_summary(db, user_id, session)  # unknown session: error before any model
    if not show:
        from ..runtime import build_agent

        agent = build_agent(st.settings(model=model), db)
        result = agent.summarize_session(user_id=user_id, session_id=session)
    if json_:
        st.env.print_json(summary_json(result))
        return
    if result.summary is None:
        st.env.info(_nothing(st, result.user_id, session, show))
        return
    st.env.block(result.summary)  # Markdown in a terminal, made inert; piped: as stored
    st.env.info(f"covers {plural(result.runs, 'run')}, through run {result.covers_through_run}")


def _nothing(st: AppState, user_id: str, session_id: str, show: bool) -> str:
    if show:
        from shlex import quote

        again = f"agentcli summarize -s {quote(session_id)} -u {quote(user_id)}"
        return f"session {session_id!r} has no summary yet; make one with: {again}"
    db = st.db()
    found = db.require_session(user_id, session_id)
    if db.count_completed_runs(found.pk) == 0:
        return f"session {session_id!r} has no completed runs to summarize"
    return f"nothing summarized: an earlier run of session {session_id!r} is still running"
