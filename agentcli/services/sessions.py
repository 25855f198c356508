"""Sessions as the front ends ask for them: new ids, and one session with its messages."""

from __future__ import annotations

import uuid

from ..core.errors import StoreError
from ..core.protocols import SessionStore
from ..core.records import Message, Session
from .liveness import sweep_interrupted


def new_session_id() -> str:
    """A fresh session id: 12 hex digits."""
    return uuid.uuid4().hex[:12]


def session_with_messages(
    store: SessionStore, user_id: str, session_id: str, *, last_runs: int | None = None
) -> tuple[Session, list[Message]]:
    """A user's session and its messages (the last ``last_runs`` runs, else all).

    Runs left behind by a process that is gone show as interrupted, not as
    still running. ``NotFoundError`` when the user has no such session.
    """
    try:
        sweep_interrupted(store)
    except StoreError:
        pass  # a read-only database (or a full disk) is still read
    found = store.require_session(user_id, session_id)
    return found, store.session_messages(found.pk, last_runs=last_runs)


def discard_failed(store: SessionStore, user_id: str, session_id: str) -> bool:
    """Delete a session whose every run failed (status ``error``); True when deleted.

    What a failed chat in a session of its own would leave behind: five tries
    with a bad key are not five sessions. A session with any other run is kept.
    """
    found = store.get_session(user_id, session_id)
    if found is None:
        return False
    messages = store.session_messages(found.pk)
    if not messages or any(m.status != "error" for m in messages):
        return False
    store.delete_session(user_id, session_id)
    return True
