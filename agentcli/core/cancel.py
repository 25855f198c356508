"""Asking a run to stop from another thread (a server whose client went away)."""

from __future__ import annotations

import threading


class Cancellation:
    """Set from any thread; the run stops at its next streamed piece of text.

    ``status`` is what the run is stored as: ``cancelled`` (the person or the
    client gave up) or ``interrupted`` (the process is stopping).
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self.status = "cancelled"
        self.reason = "cancelled by the user"

    def cancel(self, status: str = "cancelled", reason: str = "cancelled by the user") -> None:
        """Ask the run to stop; the first request's status and reason stand."""
        if not self._event.is_set():
            self.status, self.reason = status, reason
            self._event.set()

    @property
    def requested(self) -> bool:
        return self._event.is_set()
