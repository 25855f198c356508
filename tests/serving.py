"""The real ``agentcli serve`` as a subprocess on a free loopback port, for tests and benchmarks."""

from __future__ import annotations

import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx

AGENTCLI = str(Path(sys.executable).with_name("agentcli"))
READY = "agentcli: serving on "


class Served:
    """``agentcli [--db DB] serve --port 0 ARGS`` with ``env``; its stderr lines in ``log``."""

    def __init__(
        self, *args: str, env: dict[str, str], db: str | None = None, start_timeout: float = 30.0
    ):
        self.env = env
        self.log: list[str] = []
        self.proc = subprocess.Popen(
            [AGENTCLI, *(["--db", db] if db else []), "serve", "--port", "0", *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        while True:
            try:
                line = self._lines.get(timeout=start_timeout)
            except queue.Empty:
                self.proc.kill()
                raise RuntimeError(f"agentcli serve did not start: {self.log}") from None
            if line is None:
                raise RuntimeError(f"agentcli serve exited {self.proc.wait()}: {self.log}")
            if line.startswith(READY):
                self.url = line[len(READY) :].split()[0]
                break

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line.rstrip("\n"))
            self._lines.put(line)
        self._lines.put(None)

    def client(self, token: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kwargs)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        self._reader.join(5)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
        return code

    def requests_logged(self) -> list[str]:
        return [line for line in self.log if not line.startswith("agentcli:")]

    def __enter__(self) -> Served:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def server_env(home: Path, model_url: str, **extra: str) -> dict[str, str]:
    """The environment of a server (or a CLI call) on ``home`` talking to ``model_url``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTCLI_", "OPENAI_"))}
    env.update(AGENTCLI_HOME=str(home), OPENAI_BASE_URL=model_url, **extra)
    return env


def rows(home: Path, sql: str, params: tuple = ()) -> list[tuple]:
    """Rows of the server's database (the default file under ``home``)."""
    with closing(sqlite3.connect(home / "agentcli.db")) as conn:
        return conn.execute(sql, params).fetchall()
