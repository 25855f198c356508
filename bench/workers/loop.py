"""What the two agent workers share: time each run and the HTTP inside it.

A worker reads one JSON request per line on stdin ({"user", "session",
"message"}) and answers one JSON line: the run's wall time, the time spent
in the ``openai`` SDK's HTTP send (the whole exchange, since the runs are
not streamed) and how many requests the run made. Both agentcli and Agno
call the model through the ``openai`` SDK, so the same hook times both.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from collections.abc import Callable


class HttpClock:
    """Adds up the time spent in ``SyncAPIClient._send_request``."""

    def __init__(self) -> None:
        from openai import _base_client

        self.seconds = 0.0
        self.requests = 0
        original = _base_client.SyncAPIClient._send_request

        def timed(client, *args, **kwargs):
            started = time.perf_counter()
            try:
                return original(client, *args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started
                self.requests += 1

        _base_client.SyncAPIClient._send_request = timed


def serve(run: Callable[[str, str, str], None]) -> None:
    """Answer requests until stdin closes; anything the agent prints goes to stderr."""
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    clock = HttpClock()
    for line in sys.stdin:
        request = json.loads(line)
        clock.seconds, clock.requests = 0.0, 0
        started = time.perf_counter()
        error = None
        try:
            run(request["user"], request["session"], request["message"])
        except Exception as exc:
            traceback.print_exc()
            error = f"{type(exc).__name__}: {exc}"[:200]
        wall = time.perf_counter() - started
        result = {
            "wall_ms": wall * 1000,
            "http_ms": clock.seconds * 1000,
            "requests": clock.requests,
            "error": error,
        }
        out.write(json.dumps(result) + "\n")
        out.flush()
