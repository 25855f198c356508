"""Which process owns a running run, and whether that process is still alive."""

from __future__ import annotations

import os
import socket
from functools import cache


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
