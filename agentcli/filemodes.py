"""The modes of the files and directories agentcli keeps.

The data directory (``AGENTCLI_HOME``, or the platform's) is private: one that
agentcli finds open to the group or others is tightened to its owner alone
when it is agentcli's (the platform's default, or one holding nothing but
agentcli's files), and warned about otherwise. A config file holding a secret
(``api_key``, ``server_token``) that others can read gets a warning naming it,
as ssh warns about a private key.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterable
from pathlib import Path

# What agentcli keeps in its data directory.
OURS = frozenset({"agentcli.db", "agentcli.db-wal", "agentcli.db-shm", "config.toml", "history"})

# Config files already warned about in this process.
_warned: set[str] = set()


def warn(text: str) -> None:
    sys.stderr.write(f"agentcli: warning: {text}\n")
    sys.stderr.flush()


def tighten_data_dir(path: Path, *, default: bool) -> None:
    """Take the group's and others' access away from the data directory ``path``
    when it is agentcli's (``default``: the platform's own; else one holding
    agentcli's files only) and its owner's; warn when it is not ours to change."""
    try:
        found = path.stat()
    except OSError:
        return  # none yet: made 0700 when something is first stored
    if not stat.S_ISDIR(found.st_mode) or not found.st_mode & 0o077:
        return
    shown = f"{stat.S_IMODE(found.st_mode):04o}"
    if found.st_uid == os.geteuid() and (default or _only_ours(path)):
        try:
            os.chmod(path, stat.S_IMODE(found.st_mode) & 0o700)
            return
        except OSError:
            pass
    key = f"dir:{path}"
    if key not in _warned:
        _warned.add(key)
        warn(
            f"data directory {path} can be read by others (mode {shown}); "
            f"make it private: chmod 700 {path}"
        )


def _only_ours(path: Path) -> bool:
    try:
        names: Iterable[str] = os.listdir(path)
    except OSError:
        return False
    return all(name in OURS for name in names)


def warn_if_exposed(path: Path, keys: Iterable[str]) -> None:
    """One warning, naming the file, when the config file ``path`` holds a secret
    and others than its owner can read it."""
    secrets = [k for k in ("api_key", "server_token") if k in keys]
    if not secrets or str(path) in _warned:
        return
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return
    if mode & 0o044:
        _warned.add(str(path))
        warn(
            f"config file {path} holds {' and '.join(secrets)} and can be read by others "
            f"(mode {mode:04o}); make it private: chmod 600 {path}"
        )
