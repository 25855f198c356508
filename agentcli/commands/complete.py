"""Shell completion of option and argument values: session ids and memory modes.

Click calls these while the shell waits, with whatever has been typed so far
parsed leniently. They read the local SQLite file only when it exists (never
creating one, never reaching a server) and never raise: a completion that
fails offers nothing rather than printing a traceback into the shell.
"""

from __future__ import annotations

from typing import Any

MEMORY_MODES = ("agentic", "automatic", "off")
# Most session ids offered at once; the most recently used come first.
MAX_SESSIONS = 200


def memory_modes(incomplete: str) -> list[str]:
    """The values of ``--memory``."""
    return [mode for mode in MEMORY_MODES if mode.startswith(incomplete)]


def session_ids(ctx: Any, incomplete: str) -> list[tuple[str, str]]:
    """The user's session ids starting with ``incomplete``, most recent first, each
    with its name; the user is ``--user`` when typed before, else the default one."""
    try:
        return _session_ids(ctx, incomplete)
    except Exception:  # noqa: BLE001 - a completion offers nothing rather than fail
        return []


def _session_ids(ctx: Any, incomplete: str) -> list[tuple[str, str]]:
    from pathlib import Path

    from ..config import db_target, load_settings
    from ..core.dburl import looks_like_url

    target = db_target(ctx.find_root().params.get("db"))
    if looks_like_url(target) or not Path(target).is_file():
        return []
    user = ctx.params.get("user") or load_settings().default_user
    from ..runtime import open_store

    db = open_store(target)
    try:
        found = db.list_sessions(user)
    finally:
        db.close()
    offered = []
    for session in found:
        if session.session_id.startswith(incomplete):
            offered.append((session.session_id, " ".join((session.name or "").split())))
            if len(offered) == MAX_SESSIONS:
                break
    return offered


def model_names(incomplete: str) -> list[str]:
    """Model names for ``--model``: your aliases and the endpoint's models as last listed
    (``agentcli models`` keeps them for a while); never a network call."""
    try:
        from ..modelnames import complete_model

        return complete_model(incomplete)
    except Exception:  # noqa: BLE001 - a completion offers nothing rather than fail
        return []
