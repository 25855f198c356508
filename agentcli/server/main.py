"""Starting and stopping the server: the listening socket, uvicorn, SIGTERM, the exit."""

from __future__ import annotations

import math
import os
import signal
import socket
import sys
from types import FrameType
from typing import Any

from ..core.errors import AgentCliError
from .address import check_bind
from .runner import Runner, ServerConfig


def listen(host: str, port: int) -> socket.socket:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host.strip("[]"), port, type=socket.SOCK_STREAM
        )[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        raise AgentCliError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def serve(config: ServerConfig) -> None:
    """Serve until SIGTERM or Ctrl-C; returns when every reply has ended or been cut."""
    import uvicorn

    from .app import create_app

    check_bind(config.host, config.token)
    serving = Runner(config)
    sock = listen(config.host, config.port)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    app = create_app(serving)

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            super().handle_exit(sig, frame)
            loop = serving.loop
            if loop is not None:
                loop.call_soon_threadsafe(serving.begin_stop)

    server = Server(
        uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="on",
            server_header=False,
            timeout_graceful_shutdown=math.ceil(config.shutdown_timeout) + 5,
        )
    )
    # uvicorn raises the stopping signal again once done; these make that a no-op,
    # so a stop by SIGTERM or Ctrl-C ends with status 0.
    previous = {sig: signal.signal(sig, _ignore) for sig in (signal.SIGTERM, signal.SIGINT)}
    user = f", serving user {config.user!r} only" if config.user else ""
    auth = "bearer token required" if config.token else "no token"
    _say(
        f"agentcli: serving on http://{shown}:{port} (OpenAI-compatible at /v1, "
        f"API docs at /docs; {auth}{user})"
    )
    try:
        server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
    _say("agentcli: stopped")
    if not serving.idle():
        # A worker still waits for the model: its run is marked interrupted; do not wait.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def _ignore(sig: int, frame: Any) -> None:
    pass


def _say(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
