"""Run events as a terminal shows them: memory notices and warnings on stderr.

The agent reports what its run and the work after it did as events
(:mod:`agentcli.core.events`), some from a worker thread. A front end passes
:meth:`Notices.put` as the run's event sink and calls :meth:`Notices.show`
from the thread that draws, when nothing else is being drawn.
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .core.events import MemoryChanged, Warning

if TYPE_CHECKING:
    from .render import Env

SHOWN = (MemoryChanged, Warning)


class Notices:
    """The events a person is told about, kept until the drawing thread shows them.

    ``warn``, when given, takes each warning at once instead (a one-shot
    command: warnings as they happen, notices after the reply).
    """

    def __init__(self, env: Env, *, warn: Callable[[str], None] | None = None):
        self.env = env
        self.warn = warn
        self._events: queue.Queue[Any] = queue.Queue()

    def put(self, event: Any) -> None:
        """An event sink: any thread may call it; events nobody is shown are dropped."""
        warn = self.warn
        if warn is not None and isinstance(event, Warning):
            warn(event.text)
        elif isinstance(event, SHOWN):
            self._events.put(event)

    @contextmanager
    def warnings_to(self, warn: Callable[[str], None]) -> Iterator[None]:
        """Warnings go to ``warn`` at once while inside (the REPL: above its prompt)."""
        before, self.warn = self.warn, warn
        try:
            yield
        finally:
            self.warn = before

    def show(self) -> None:
        """Show every event put so far, in order."""
        while True:
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                return
            if isinstance(event, Warning):
                self.env.warning(event.text)
            else:
                self.env.info(event.notice)  # a dim one-liner in a terminal
