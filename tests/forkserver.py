"""Start ``agentcli`` processes quickly, for the crash and concurrency tests.

A new Python process spends about 1.5 s of CPU before its first run, most of it
importing ``openai``; those tests start dozens. Here one server process imports
agentcli once, and every process a test asks for is forked from it: a real
process, with its own pid, environment, stdin, stdout and stderr, running the
real entry point (``agentcli.cli.main``) against the real database, that
SIGKILL ends like any other. The server imports modules only: it opens no
database, builds no model client and starts no thread before it forks.

    with ForkServer() as forks:
        proc = forks.spawn(["chat", "-s", "s", "hello"], env=env)
        proc.stdout.readline(); proc.kill(); proc.wait()

``spawn(..., worker=True)`` runs ``reliability_worker.work(*argv)`` instead.
The server sends each child's exit status like ``Popen.returncode`` (minus the
signal number when a signal ended it); it reaps children at once, so a killed
child is gone, not a zombie that would still look alive.
"""

from __future__ import annotations

import io
import json
import os
import select
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent


class Forked:
    """A forked process, used like ``subprocess.Popen`` (stdout and stderr piped)."""

    def __init__(
        self, server: ForkServer, pid: int, stdout: io.BufferedReader, stderr: io.BufferedReader
    ):
        self.server = server
        self.pid = pid
        self.stdout = stdout
        self.stderr = stderr
        self.returncode: int | None = None

    def send_signal(self, signal: int) -> None:
        if self.returncode is None:
            os.kill(self.pid, signal)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            self.returncode = self.server._exit_status(self.pid, timeout)
        return self.returncode

    def communicate(self, timeout: float | None = None) -> tuple[bytes, bytes]:
        """Everything the process writes, once it has ended (like ``Popen``)."""
        out, err = _read_both(self.stdout, self.stderr, timeout)
        self.wait(timeout)
        return out, err


class ForkServer:
    def __init__(self) -> None:
        # One message a packet, each way: a request with its two descriptors; a pid;
        # an exit status.
        self._sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._proc = subprocess.Popen(
            [sys.executable, __file__, str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,  # as a piped child's: not a terminal
            cwd=HERE,
        )
        theirs.close()
        self._exits: dict[int, int] = {}

    def __enter__(self) -> ForkServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._sock.close()
        self._proc.wait(timeout=30)

    def spawn(self, argv: list[str], *, env: dict[str, str], worker: bool = False) -> Forked:
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        request = json.dumps({"argv": argv, "env": env, "worker": worker}).encode()
        socket.send_fds(self._sock, [request], [out_w, err_w])
        os.close(out_w)
        os.close(err_w)
        pid = self._next("pid")
        return Forked(self, pid, open(out_r, "rb"), open(err_r, "rb"))

    def _next(self, kind: str, pid: int | None = None, timeout: float | None = None) -> int:
        """Read messages until the wanted one; remember the exits read on the way."""
        while True:
            if kind == "exit" and pid in self._exits:
                return self._exits.pop(pid)
            if timeout is not None:
                ready, _, _ = select.select([self._sock], [], [], timeout)
                if not ready:
                    raise subprocess.TimeoutExpired(f"forked process {pid}", timeout)
            packet = self._sock.recv(4096)
            if not packet:
                raise RuntimeError("the fork server has ended")
            message = json.loads(packet)
            if "exit" in message:
                self._exits[message["exit"]] = message["status"]
            elif kind == "pid":
                return int(message["pid"])

    def _exit_status(self, pid: int, timeout: float | None) -> int:
        return self._next("exit", pid, timeout)


def _read_both(
    out: io.BufferedReader, err: io.BufferedReader, timeout: float | None
) -> tuple[bytes, bytes]:
    chunks: dict[io.BufferedReader, list[bytes]] = {out: [], err: []}
    open_ = [out, err]
    while open_:
        ready, _, _ = select.select(open_, [], [], timeout)
        if not ready:
            raise subprocess.TimeoutExpired("forked process", timeout or 0)
        for stream in ready:
            data = stream.read1(65536)  # what a read() before left buffered comes first
            if data:
                chunks[stream].append(data)
            else:
                open_.remove(stream)
                stream.close()
    return b"".join(chunks[out]), b"".join(chunks[err])


# -- the server process ----------------------------------------------------------------
def _serve(fd: int) -> None:
    # Everything a chat run loads, imported once here.
    import openai  # noqa: F401
    import reliability_worker  # noqa: F401

    import agentcli.adapters.openai_chat  # noqa: F401
    import agentcli.adapters.sqlite  # noqa: F401
    import agentcli.cli  # noqa: F401
    import agentcli.commands.chat  # noqa: F401
    import agentcli.services.agent  # noqa: F401
    import agentcli.services.memory  # noqa: F401
    import agentcli.services.summary  # noqa: F401

    control = socket.socket(fileno=fd)
    children = 0
    while True:
        ready, _, _ = select.select([control], [], [], 0.01)
        if ready:
            data, fds, _, _ = socket.recv_fds(control, 1 << 20, 2)
            if not data:
                break  # the test process closed its end
            pid = os.fork()
            if pid == 0:
                control.close()
                _child(json.loads(data), *fds)
            for received in fds:
                os.close(received)
            children += 1
            _send(control, {"pid": pid})
        while children:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            children -= 1
            _send(control, {"exit": pid, "status": os.waitstatus_to_exitcode(status)})
    while children:  # the tests are over: wait for what is left
        os.waitpid(-1, 0)
        children -= 1


def _send(control: socket.socket, message: dict[str, Any]) -> None:
    control.send(json.dumps(message).encode())


def _child(job: dict[str, Any], out: int, err: int) -> None:
    code = 1
    try:
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(out, 1)
        os.dup2(err, 2)
        for fd in (devnull, out, err):
            os.close(fd)
        os.environ.clear()
        os.environ.update(job["env"])
        if job["worker"]:
            import reliability_worker

            user, session, count, tag = job["argv"]
            code = reliability_worker.work(user, session, int(count), tag)
        else:
            code = _main(job["argv"])
    except BaseException:  # a child never returns into the server's loop
        import traceback

        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        os._exit(code)


def _main(argv: list[str]) -> int:
    from agentcli.cli import main

    sys.argv = ["agentcli", *argv]
    entry: Any = main  # returns a status, or exits with one
    try:
        code = entry(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    _serve(int(sys.argv[1]))
