"""``agentcli summarize``: bring a session's rolling summary up to date."""

from __future__ import annotations

from typing import Annotated

import typer

from ..services.serialize import summary_json
from .common import AppState, JsonOption, UserOption, state


def summarize(
    ctx: typer.Context,
    session: Annotated[str, typer.Option("--session", "-s", help="Session id.")],
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
    from ..services.summary import Summarizer, stored_summary

    st = state(ctx)
    user_id = st.user(user)
    db = st.db()
    result = stored_summary(db, user_id, session)  # unknown session: error before any model
    if not show:
        from ..services.liveness import owner_alive

        # A run left "running" by a process that died would stop the fold there.
        db.mark_interrupted(owner_alive)
        settings = st.settings(model=model)
        from ..runtime import chat_model

        client = chat_model(settings)
        client.check_configured()
        summarizer = Summarizer(db, model=client, batch_runs=settings.summary_batch)
        result = summarizer.summarize(user_id, session)
    if json_:
        st.env.print_json(summary_json(result))
        return
    if result.summary is None:
        st.env.info(_nothing(st, result.user_id, session, show))
        return
    st.env.block(result.summary)  # Markdown in a terminal, made inert; piped: as stored
    st.env.info(f"covers {result.runs} run(s), through run {result.covers_through_run}")


def _nothing(st: AppState, user_id: str, session_id: str, show: bool) -> str:
    if show:
        return f"session {session_id!r} has no summary yet; make one with: agentcli summarize"
    db = st.db()
    found = db.require_session(user_id, session_id)
    if db.count_completed_runs(found.pk) == 0:
        return f"session {session_id!r} has no completed runs to summarize"
    return f"nothing summarized: an earlier run of session {session_id!r} is still running"
