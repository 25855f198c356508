"""``agentcli models``: the models the endpoint offers, the default marked, and the aliases."""

from __future__ import annotations

from typing import Any

import typer

from .common import JsonOption, state


def models(ctx: typer.Context, json_: JsonOption = False) -> None:
    """List the endpoint's models and your aliases, the default marked *"""
    from ..runtime import chat_model

    st = state(ctx)
    settings = st.settings()
    chat = chat_model(settings)
    chat.check_configured()
    entries = chat.models()  # also kept for tab completion of model names
    listed = [_name(e) for e in entries if _name(e)]
    aliases: dict[str, list[str]] = {}
    for alias, target in settings.aliases.items():
        aliases.setdefault(target, []).append(alias)
    # The default and the targets of aliases, also when the server does not list them.
    names = list(dict.fromkeys([*listed, settings.model, *aliases]))
    if json_:
        by_name = {_name(e): e for e in entries}
        st.env.print_json(
            {
                "endpoint": chat.endpoint,
                "default": settings.model,
                "models": [
                    {
                        "id": name,
                        "default": name == settings.model,
                        "listed": name in by_name,
                        "aliases": aliases.get(name, []),
                        "owned_by": by_name.get(name, {}).get("owned_by"),
                    }
                    for name in names
                ],
                "aliases": settings.aliases,
            }
        )
        return
    rows = []
    for name in names:
        note = "" if name in listed else "not listed by the server"
        mark = "* " if name == settings.model else "  "
        rows.append([mark + name, ", ".join(aliases.get(name, [])), note])
    st.env.table(["MODEL", "ALIASES", "NOTE"], rows)


def _name(entry: dict[str, Any]) -> str:
    return str(entry.get("id") or entry.get("name") or "")
