"""One store per thread, behind one object the services can share.

A ``SqliteDb`` holds one connection; each worker thread gets its own, so
readers never queue behind another thread's write. Once a store serves many
threads by itself, :class:`ThreadStores` shrinks to ``open_store(target)``.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any, cast

from ..runtime import open_store

if TYPE_CHECKING:
    from ..core.protocols import Store


class ThreadStores:
    """Opens a store for each thread that asks, and closes them all at the end."""

    def __init__(self, target: str | os.PathLike[str] | None):
        self._target = target
        self._local = threading.local()
        self._opened: list[Store] = []
        self._lock = threading.Lock()
        self.current()  # open (and migrate) now: a bad file fails at start-up

    def current(self) -> Store:
        """The calling thread's store."""
        store = getattr(self._local, "store", None)
        if store is None:
            store = open_store(self._target)
            self._local.store = store
            with self._lock:
                self._opened.append(store)
        return store

    def shared(self) -> Store:
        """A store for any thread: each call goes to the calling thread's own store."""
        return cast("Store", _PerThread(self))

    def close(self) -> None:
        with self._lock:
            opened, self._opened = self._opened, []
        for store in opened:
            try:
                store.close()
            except Exception:  # closing at exit: nothing left to protect
                pass


class _PerThread:
    def __init__(self, stores: ThreadStores):
        self._stores = stores

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stores.current(), name)
