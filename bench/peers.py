"""The tools agentcli is compared with, each installed from PyPI in its own virtualenv.

They are never dependencies of agentcli. A peer that cannot be installed is
reported with the reason, and the rows that need it say so.
"""

from __future__ import annotations

import subprocess
import venv
from dataclasses import dataclass
from pathlib import Path

PACKAGES = {
    "llm": ["llm"],
    "agno": ["agno", "sqlalchemy[asyncio]", "openai"],
}
READY = ".bench-ready"


@dataclass
class Peer:
    name: str
    home: Path
    version: str | None = None
    error: str | None = None

    @property
    def python(self) -> str:
        return str(self.home / "bin" / "python")

    def bin(self, name: str) -> str:
        return str(self.home / "bin" / name)


def ensure(cache: Path, log=print) -> dict[str, Peer]:
    """Every peer, installed first where missing (in parallel)."""
    peers = {name: Peer(name, cache / "venvs" / name) for name in PACKAGES}
    installs = {}
    for peer in peers.values():
        if not (peer.home / READY).exists():
            log(f"installing {peer.name} into its own virtualenv (once) ...")
            installs[peer.name] = _start_install(peer)
    for name, (proc, logfile) in installs.items():
        try:
            proc.wait(timeout=900)
        except subprocess.TimeoutExpired:
            proc.kill()
        if proc.returncode == 0:
            (peers[name].home / READY).write_text(" ".join(PACKAGES[name]) + "\n")
        else:
            tail = [ln for ln in logfile.read_text(errors="replace").splitlines() if ln.strip()]
            peers[name].error = f"pip install failed: {tail[-1] if tail else proc.returncode}"
    for peer in peers.values():
        if peer.error is None:
            peer.version = _version(peer)
            if peer.version is None:
                peer.error = f"{peer.name} is not importable in {peer.home.name}/"
    return peers


def _start_install(peer: Peer) -> tuple[subprocess.Popen, Path]:
    peer.home.parent.mkdir(parents=True, exist_ok=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(peer.home)
    logfile = peer.home / "install.log"
    proc = subprocess.Popen(
        [peer.python, "-m", "pip", "install", "-q", *PACKAGES[peer.name]],
        stdout=logfile.open("w"),
        stderr=subprocess.STDOUT,
    )
    return proc, logfile


def _version(peer: Peer) -> str | None:
    code = f"import importlib.metadata as m; print(m.version({peer.name!r}))"
    try:
        done = subprocess.run([peer.python, "-c", code], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (done.stdout.strip() or None) if done.returncode == 0 else None
