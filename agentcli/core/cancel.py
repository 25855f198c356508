"""Asking a run to stop from another thread (a server whose client went away)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


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


class Terminated(KeyboardInterrupt):
    """The process was asked to stop by a signal (SIGTERM, or SIGHUP when its
    terminal closed): handled as Ctrl-C is, then the process ends with
    ``128 + signum``."""

    def __init__(self, signum: int):
        import signal

        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextmanager
def stop_signals_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise :class:`Terminated` in the main
    thread, as Ctrl-C raises ``KeyboardInterrupt``: a run streaming then is
    stored as cancelled with what arrived. Only the first signal raises; later
    ones wait for that clean-up to end. Leaving the block, a ``Terminated`` becomes
    ``SystemExit(128 + signum)``, the status of a process ended by that signal.
    Elsewhere than the main thread, nothing changes."""
    import signal

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    raised: list[int] = []

    def stop(signum: int, frame: object) -> None:
        if not raised:
            raised.append(signum)
            raise Terminated(signum)

    names = [signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])
    before = {name: signal.signal(name, stop) for name in names}
    try:
        yield
    except Terminated as exc:
        raise SystemExit(128 + exc.signum) from None
    finally:
        for name, handler in before.items():
            signal.signal(name, handler)
