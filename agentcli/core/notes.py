"""Notes: facts learned about one model endpoint, kept between runs.

What a server told us once need not be asked again on every run: its context
window, that it refuses tools, that it cannot stream tool calls, how far its
token counts run above our estimate. The model client and the agent read and
write them by name; :class:`Notes` keeps them in memory for one process, a
file-backed subclass (``agentcli.adapters.notes_file``) across processes.
Values are plain JSON (numbers, strings, booleans, lists, objects).
"""

from __future__ import annotations

import threading
import time
from typing import Any

# The names both the model client and the services use.
CONTEXT_WINDOW = "context_window"  # {"tokens": int | None, "source": str, "at": epoch seconds}
TOKEN_RATIO = "token_ratio"  # the server's token counts over our estimate, when above 1
TOOLS_REJECTED = "tools_rejected"  # why the server refused tools (dated: see ``recent``)
STREAM_TOOLS = "stream_tools"  # False: answers that may call tools are not streamed
USAGE_IN_STREAM = "usage_in_stream"  # False: streamed answers carry no token counts
MAX_TOKENS_PARAM = "max_tokens_param"  # "max_completion_tokens" for servers that want it
DAY = 24 * 3600


class Notes:
    """Named values about one endpoint and model; in memory only."""

    def __init__(self) -> None:
        self._values: dict[str, Any] = {}
        self._lock = threading.Lock()

    def scoped(self, scope: str) -> Notes:
        """The notes of another endpoint or model, kept the same way (here: fresh ones)."""
        return Notes()

    def get(self, name: str, default: Any = None) -> Any:
        with self._lock:
            self._load()
            return self._values.get(name, default)

    def set(self, name: str, value: Any) -> None:
        with self._lock:
            self._load()
            if self._values.get(name) == value:
                return
            self._values[name] = value
            self._save()

    def increment(self, name: str) -> int:
        """Add one to a counter and return its new value."""
        with self._lock:
            self._load()
            value = int(self._values.get(name) or 0) + 1
            self._values[name] = value
            self._save()
            return value

    def once(self, name: str) -> bool:
        """True the first time it is asked for ``name``, then never again (a once-only warning)."""
        with self._lock:
            self._load()
            if self._values.get(name):
                return False
            self._values[name] = True
            self._save()
            return True

    def recent(self, name: str, max_age: float = DAY) -> Any:
        """A value set by :meth:`stamp` no more than ``max_age`` seconds ago, else ``None``:
        what a server refused once may work after it restarts with other options."""
        noted = self.get(name)
        if isinstance(noted, dict) and time.time() - float(noted.get("at") or 0) <= max_age:
            return noted.get("value")
        return None

    def stamp(self, name: str, value: Any) -> None:
        """Set ``name`` to ``value`` with the time, for :meth:`recent`."""
        self.set(name, None if value is None else {"value": value, "at": int(time.time())})

    # A subclass keeps the values somewhere; ``_values`` holds them while locked.
    def _load(self) -> None:
        pass

    def _save(self) -> None:
        pass
