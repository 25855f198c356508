"""``agentcli doctor``: probe the configured model endpoint and say what to change."""

from __future__ import annotations

import typer

from .common import EndpointOption, JsonOption, ModelOption, state


def doctor(
    ctx: typer.Context,
    model: ModelOption = None,
    endpoint: EndpointOption = None,
    json_: JsonOption = False,
) -> None:
    """Check the model endpoint: reachable, streaming, usage, tool calls, context window."""
    from ..runtime import chat_model
    from ..services.doctor import diagnose

    st = state(ctx)
    settings = st.settings(model=model, endpoint=endpoint)
    chat = chat_model(settings)
    chat.check_configured()
    found = diagnose(chat)
    if json_:
        st.env.print_json(
            {
                "endpoint": found.endpoint,
                "model": found.model,
                "usable": found.usable,
                "checks": [{"check": c.name, "ok": c.ok, "detail": c.detail} for c in found.checks],
                "models": found.models,
                "context_window": {"tokens": found.context_window, "source": found.context_source},
                "stream_usage": found.stream_usage,
                "tool_calls": found.tool_calls,
                "recommended_memory": found.recommended_memory,
                "problems": [
                    {"check": c.name, "problem": c.detail, "fix": c.fix} for c in found.problems()
                ],
            }
        )
    else:
        st.env.line(f"endpoint {found.endpoint} · model {found.model}")
        marks = {True: "ok", False: "PROBLEM", None: "-"}
        st.env.table(
            ["CHECK", "STATUS", "RESULT"], [[c.name, marks[c.ok], c.detail] for c in found.checks]
        )
        for c in found.problems():
            st.env.line(f"problem: {c.name}: {c.detail}; fix: {c.fix}")
    if not found.usable:
        raise typer.Exit(1)
