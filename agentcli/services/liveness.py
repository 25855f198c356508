"""Which process owns a running run, and whether that process is still alive."""

from __future__ import annotations

import os
import socket
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..core.protocols import SessionStore


def _start_ticks(pid: int) -> str:
    """The process start time from /proc (guards against reused pids), or ''."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read().decode("ascii", "replace")
    except OSError:
        return ""
    # Field 22 (starttime) counted after the parenthesised command name.
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else ""


@cache
def current_owner() -> str:
    """``host:pid:start`` naming this process."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_ticks(pid)}"


# A forked child (a server's worker processes) is another process: it names itself.
os.register_at_fork(after_in_child=current_owner.cache_clear)


def owner_alive(owner: str) -> bool:
    """False only when ``owner`` names a process on this host that is gone."""
    if owner == current_owner():
        return True  # this process (a server checks its own runs on every run)
    try:
        host, pid_text, start = owner.rsplit(":", 2)
        pid = int(pid_text)
    except ValueError:
        return False
    if host != socket.gethostname():
        return True  # cannot tell for another machine; leave it alone
    if pid == os.getpid():
        return start == _start_ticks(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return not start or start == _start_ticks(pid)


def sweep_interrupted(store: SessionStore) -> int:
    """Mark the runs left "running" by processes that are gone as interrupted.

    Called before anything that reads a session's runs as settled (a run, a
    fold, showing a session): a dead process's run would otherwise look alive
    for good and stop summaries at it. One indexed query for the running runs.
    Returns how many runs were marked.
    """
    return store.mark_interrupted(owner_alive)
