"""Runs on a bounded pool of worker threads; their events handed to the event loop.

The Agent and the stores are synchronous. Each run executes on a worker
thread (its model call blocks that thread, never the event loop) and reports
through run events, which :class:`RunStream` passes to the loop with
``call_soon_threadsafe``. Memory updates and summary folds that follow a run
go to a second pool, so they never hold a thread a reply is waiting for.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from ..core.cancel import Cancellation
from ..runtime import build_agent, chat_model, open_store
from ..services.liveness import current_owner
from .errors import INTERRUPTED, Interrupted

if TYPE_CHECKING:
    from ..config import Settings
    from ..services.agent import Agent

T = TypeVar("T")


@dataclass
class ServerConfig:
    """What ``agentcli serve`` was started with."""

    settings: Settings
    db: str | os.PathLike[str] | None = None
    host: str = "127.0.0.1"
    port: int = 7777
    token: str | None = None
    user: str | None = None  # the one user this server serves, if bound
    threads: int = 32
    shutdown_timeout: float = 30.0


class RunRequest(NamedTuple):
    user_id: str
    session_id: str
    message: str
    instructions: str | None = None
    model: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None


class Failed(NamedTuple):
    """The run ended with an exception (the last item of its stream)."""

    error: BaseException


class Abandoned(NamedTuple):
    """The work after the run will not happen (the server is stopping)."""


class RunStream:
    """One run's events, from its worker thread to the request on the event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.cancel = Cancellation()

    def put(self, item: Any) -> None:
        """Hand over an event from any thread."""
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the loop has closed: nobody is listening any more
            pass

    async def get(self) -> Any:
        return await self.queue.get()


class _FollowUps(Executor):
    """The follow-up pool as one run sees it: work that will never run says so."""

    def __init__(self, runner: Runner, stream: RunStream | None):
        self._runner = runner
        self._stream = stream

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        runner = self._runner
        try:
            job = runner._counted(runner._following, lambda: fn(*args, **kwargs))
            future = runner.follow_ups.submit(job)
        except RuntimeError:  # shut down: the run stands, its follow-up is dropped
            future = Future()
            future.cancel()
        future.add_done_callback(self._abandoned)
        return future

    def _abandoned(self, future: Future[Any]) -> None:
        if future.cancelled() and self._stream is not None:
            self._stream.put(Abandoned())


class Runner:
    """Stores, models and the worker pools of one server."""

    def __init__(self, config: ServerConfig):
        self.config = config
        self.settings = config.settings
        # One store for every thread. (A SqliteDb per thread would be faster, but
        # opening a second one in a process reads the file's header with a plain
        # open() whose close drops the locks SQLite holds on it for the first:
        # another process could then checkpoint and delete the WAL under it.)
        self.db = open_store(config.db)
        self.backend = type(self.db).__name__.removesuffix("Db").lower()
        self.model = chat_model(self.settings)
        self.model.check_configured()
        memory = self.settings.memory_model
        self.memory_model = chat_model(self.settings, memory) if memory else self.model
        for model in (self.model, self.memory_model):
            model.client()  # the SDK loaded and the clients made now, not in the first reply
        self.runs = ThreadPoolExecutor(config.threads, thread_name_prefix="agentcli-run")
        self.follow_ups = ThreadPoolExecutor(
            max(2, config.threads // 4), thread_name_prefix="agentcli-after"
        )
        self.active: set[RunStream] = set()
        self._lock = threading.Lock()
        self.loop: asyncio.AbstractEventLoop | None = None  # set when the app starts
        self.stopping = False
        self.interrupted = False
        self._running = [0]  # worker threads busy with a run
        self._following = [0]  # ... with follow-up work

    def models(self) -> list[str]:
        return list(dict.fromkeys([self.model.id, self.memory_model.id]))

    def agent(self, request: RunRequest | None = None, stream: RunStream | None = None) -> Agent:
        model = self.model
        if request is not None and (request.model or request.temperature or request.max_tokens):
            model = self.model.variant(
                id=request.model, temperature=request.temperature, max_tokens=request.max_tokens
            )
        return build_agent(
            self.settings,
            self.db,
            instructions=request.instructions if request else None,
            model=model,
            memory_model=self.memory_model,
            summary_model=self.model,
            executor=_FollowUps(self, stream),
        )

    # -- runs ------------------------------------------------------------------
    def start(self, request: RunRequest) -> RunStream:
        """Start a run on a worker thread; its events arrive on the returned stream."""
        stream = RunStream(asyncio.get_running_loop())
        agent = self.agent(request, stream)
        with self._lock:
            self.active.add(stream)

        def job() -> None:
            try:
                if self.interrupted:
                    stream.cancel.cancel("interrupted", INTERRUPTED)
                agent.run(
                    request.message,
                    user_id=request.user_id,
                    session_id=request.session_id,
                    on_event=stream.put,
                    background=True,
                    cancel=stream.cancel,
                )
            except BaseException as exc:
                stream.put(Failed(exc))
            finally:
                with self._lock:
                    self.active.discard(stream)

        self.runs.submit(self._counted(self._running, job))
        return stream

    async def call(self, fn: Callable[[], T]) -> T:
        """Run blocking work that may call the model (a summary fold) on a worker thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.runs, self._counted(self._running, fn))

    def cancel_reason(self) -> tuple[str, str]:
        """How a run whose request went away is stored: the client left, or the server stops."""
        if self.interrupted:
            return "interrupted", INTERRUPTED
        return "cancelled", "the client disconnected"

    # -- stopping ----------------------------------------------------------------
    def begin_stop(self) -> None:
        """SIGTERM: replies under way get ``shutdown_timeout`` seconds to finish."""
        if not self.stopping:
            self.stopping = True
            loop = asyncio.get_running_loop()
            loop.call_later(self.config.shutdown_timeout, self.interrupt_all)

    def interrupt_all(self) -> None:
        """Stop every run under way; each is stored ``interrupted`` with the text it has."""
        self.interrupted = True
        with self._lock:
            streams = list(self.active)
        for stream in streams:
            stream.cancel.cancel("interrupted", INTERRUPTED)
            stream.put(Failed(Interrupted()))  # ends the response even if the model is silent

    async def stop(self) -> None:
        """After the last response: finish runs, then follow-up work, within a deadline."""
        self.interrupt_all()
        deadline = time.monotonic() + max(1.0, min(self.config.shutdown_timeout, 10.0))
        self.runs.shutdown(wait=False)
        await self._drain(self._running, deadline)
        self.follow_ups.shutdown(wait=False, cancel_futures=True)  # not started: dropped
        await self._drain(self._following, deadline)
        # A run whose thread still waits for the model will not finish: ours, so interrupted.
        me = current_owner()
        self.db.mark_interrupted(lambda owner: owner != me)
        if self.idle():
            self.db.close()

    @staticmethod
    async def _drain(busy: list[int], deadline: float) -> None:
        while busy[0] and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    def idle(self) -> bool:
        """No worker thread is busy (else the process must not wait for them at exit)."""
        return not (self._running[0] or self._following[0])

    def _counted(self, busy: list[int], fn: Callable[[], T]) -> Callable[[], T]:
        def counted() -> T:
            with self._lock:
                busy[0] += 1
            try:
                return fn()
            finally:
                with self._lock:
                    busy[0] -= 1

        return counted
