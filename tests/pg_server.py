"""A throwaway PostgreSQL cluster for the tests and the benchmarks.

``initdb`` and ``pg_ctl`` come from ``pg_config --bindir``. The server refuses
to run as root, so as root they run as the ``postgres`` user through
``runuser``. The cluster lives in a temporary directory, listens on a free
loopback port (and a socket in that directory), and is removed when stopped.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PASSWORD = "s3cret-pw-Zq9"
USER = "agentcli"


def bindir() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` are, or None when PostgreSQL is not installed."""
    found = shutil.which("pg_config")
    if found:
        try:
            out = subprocess.run([found, "--bindir"], capture_output=True, text=True, check=True)
            path = Path(out.stdout.strip())
            if (path / "initdb").exists():
                return path
        except (OSError, subprocess.CalledProcessError):
            pass
    for version in ("17", "16", "15", "14"):
        path = Path(f"/usr/lib/postgresql/{version}/bin")
        if (path / "initdb").exists():
            return path
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Cluster:
    """``with Cluster() as pg: pg.url`` — a fresh server; ``pg.restart()`` for fault tests."""

    def __init__(self, *, port: int | None = None):
        bins = bindir()
        if bins is None:
            raise RuntimeError(
                "PostgreSQL is not installed (no initdb): apt-get install postgresql"
            )
        self.bin = bins
        self.port = port or free_port()
        self.root = Path(tempfile.mkdtemp(prefix="agentcli-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root / "run"
        self.log = self.root / "server.log"
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> Cluster:
        self.socket_dir.mkdir()
        if self._as:
            shutil.chown(self.root, "postgres")
            shutil.chown(self.socket_dir, "postgres")
        pwfile = self.root / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self._as:
            shutil.chown(pwfile, "postgres")
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            USER,
            "--pwfile",
            str(pwfile),
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        pwfile.unlink()
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(
                "\nlisten_addresses = '127.0.0.1'\n"
                f"port = {self.port}\n"
                f"unix_socket_directories = '{self.socket_dir}'\n"
                # No fsync: a throwaway cluster needs no safety against the machine
                # crashing; commits are still written before they are acknowledged,
                # so a server stopped at once (the restart tests) keeps them.
                "fsync = off\nfull_page_writes = off\n"
                "max_connections = 300\nshared_buffers = 128MB\n"
                "log_min_messages = fatal\n"
            )
        self._ctl("start")
        return self

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._ctl("stop", "-m", "immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def restart(self, *, down_for: float = 0.0) -> None:
        """Stop the server at once (every connection dropped), wait, start it again."""
        self._ctl("stop", "-m", "immediate")
        time.sleep(down_for)
        self._ctl("start")

    def stop_only(self) -> None:
        """Stop the server at once, keeping its data (``start_again`` brings it back)."""
        self._ctl("stop", "-m", "immediate")

    def start_again(self) -> None:
        self._ctl("start")

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- names ----------------------------------------------------------------
    def url(self, dbname: str = "postgres", *, password: str | None = PASSWORD) -> str:
        auth = f"{USER}:{password}" if password is not None else USER
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{dbname}"

    def socket_url(self, dbname: str = "postgres") -> str:
        return f"postgresql:///{dbname}?host={self.socket_dir}&port={self.port}&user={USER}"

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        out = self._run(
            "psql",
            "-h",
            str(self.socket_dir),
            "-p",
            str(self.port),
            "-U",
            USER,
            "-d",
            dbname,
            "-v",
            "ON_ERROR_STOP=1",
            "-Atc",
            sql,
        )
        return out.strip()

    # -- helpers ----------------------------------------------------------------
    def _ctl(self, *args: str) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", *args)

    def _run(self, program: str, *args: str) -> str:
        done = subprocess.run(
            [*self._as, str(self.bin / program), *args],
            capture_output=True,
            text=True,
            cwd=self.root,
        )
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise RuntimeError(f"{program} failed: {' / '.join(tail)}")
        return done.stdout
