"""The Agent: one run = store the message, build the context, call the model, persist.

Usable from Python without the CLI::

    from agentcli import Agent, OpenAIChat, SqliteDb
    agent = Agent(model=OpenAIChat(id="gpt-4o-mini"), db=SqliteDb("chat.db"))
    agent.run("Hello", user_id="sarah", session_id="thread-42").content
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..core.attachments import Attachment, FileRefused, compose, images, no_vision
from ..core.cancel import Cancellation, Terminated
from ..core.context import DEFAULT_INSTRUCTIONS, Context
from ..core.errors import (
    AgentCliError,
    ContextLengthError,
    PartialResponseError,
    RunCancelled,
    RunGoneError,
    ToolsRejectedError,
    UsageError,
)
from ..core.events import (
    EventSink,
    FollowUpDone,
    MemoryChanged,
    RunCompleted,
    RunStarted,
    TextDelta,
    ToolCallEvent,
    ToolResultEvent,
    Warning,
)
from ..core.notes import CONTEXT_WINDOW, TOKEN_RATIO, TOOLS_REJECTED, Notes
from ..core.protocols import ChatModel, Store
from ..core.records import Memory, Run, Session, Usage
from ..core.results import ModelResponse, RunContext, RunResult, SessionSummary
from ..core.text import states_facts
from ..core.tools import Toolbox
from .fitting import DEFAULT_CONTEXT_WINDOW, Fit, Measure, fit
from .liveness import current_owner, sweep_interrupted

if TYPE_CHECKING:
    from concurrent.futures import Executor

log = logging.getLogger("agentcli")

MAX_TOOL_ROUNDS = 8
# Caps on a reply, in tokens: a person's run, a memory-manager call, a fold.
DEFAULT_MAX_TOKENS = 2048
MEMORY_MAX_TOKENS = 512
SUMMARY_MAX_TOKENS = 768
# Runs telling the model about the user with no memory tool called, before
# Said once per endpoint and model when the server refuses tools (the refusal is noted).
TOOLS_REFUSED_HINT = (
    "continuing without memory tools, as will later runs with this model; "
    "--memory automatic saves memories without tools"
)
# agentcli says (once) that the model seems not to use its memory tools.
UNUSED_TOOL_RUNS = 3


class Agent:
    def __init__(
        self,
        model: ChatModel,
        db: Store,
        *,
        instructions: str | None = None,
        default_instructions: str | None = None,
        role: str | None = None,
        options: dict[str, Any] | None = None,
        add_history_to_context: bool = True,
        num_history_runs: int = 5,
        enable_agentic_memory: bool = False,
        update_memory_on_run: bool = False,
        memory_model: ChatModel | None = None,
        memory_token_budget: int = 1500,
        enable_session_summaries: bool = False,
        summary_batch_runs: int = 5,
        summary_model: ChatModel | None = None,
        max_tool_rounds: int = MAX_TOOL_ROUNDS,
        context_window: int | None = None,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        memory_max_tokens: int = MEMORY_MAX_TOKENS,
        summary_max_tokens: int = SUMMARY_MAX_TOKENS,
        on_warning: Callable[[str], None] | None = None,
        on_event: EventSink | None = None,
        executor: Executor | None = None,
    ):
        if num_history_runs < 0:
            raise UsageError("num_history_runs must be 0 or more")
        self.model = model
        # What was learned about the model's endpoint; the model's own when it keeps some.
        self.notes: Notes = getattr(model, "notes", None) or Notes()
        self.configured_window = context_window
        self.max_tokens = max_tokens
        self._window: int | None = None
        self.db = db
        # Instructions given for this agent's runs become the session's and are sent
        # to its later runs too; ``""`` clears the session's. A session without any
        # is sent ``default_instructions`` (the configured ones), else the built-in.
        self.given_instructions = instructions
        self.instructions = default_instructions or DEFAULT_INSTRUCTIONS
        # The role the runs use (remembered by the session) and the generation
        # options the model client sends: recorded with each run.
        self.role = role
        self.options = dict(options or {})
        self.add_history_to_context = add_history_to_context
        self.num_history_runs = num_history_runs
        self.max_tool_rounds = max_tool_rounds
        self.on_warning = on_warning
        self.on_event = on_event
        self.memory = None
        if enable_agentic_memory or update_memory_on_run:
            from .memory import MemoryManager

            self.memory = MemoryManager(
                self.db,
                model=memory_model or self.model,
                agentic=enable_agentic_memory,
                automatic=update_memory_on_run,
                token_budget=memory_token_budget,
                max_tokens=memory_max_tokens,
                context_window=self.context_window,
            )
        self.summarizer = None
        if enable_session_summaries:
            from .summary import Summarizer

            self.summarizer = Summarizer(
                self.db,
                model=summary_model or self.model,
                batch_runs=summary_batch_runs,
                history_runs=num_history_runs if add_history_to_context else 0,
                max_tokens=summary_max_tokens,
                context_window=self.context_window,
            )
        # Runs the follow-up work of background runs; else the agent's own worker thread.
        self.executor = executor
        self._summary_max_tokens = summary_max_tokens
        self._tools_rejected = bool(self.notes.recent(TOOLS_REJECTED))
        self._jobs: queue.Queue[Callable[[], None] | None] | None = None
        self._worker: threading.Thread | None = None

    # -- the public API ----------------------------------------------------
    def run(
        self,
        message: str,
        *,
        user_id: str,
        session_id: str,
        on_text: Callable[[str], None] | None = None,
        on_event: EventSink | None = None,
        background: bool = False,
        cancel: Cancellation | None = None,
        attachments: Sequence[Attachment] = (),
    ) -> RunResult:
        """Run one turn.

        ``on_text`` receives the reply's text as it streams; ``on_event`` (else
        the agent's own sink) receives every :mod:`~agentcli.core.events` event
        of the run and of the work that follows it. With ``background``, that
        follow-up work (memory manager, summary fold) runs on a worker thread,
        whose events reach the sink from there; call :meth:`wait` before exiting.
        ``cancel``, set from another thread, stops the run at its next streamed
        piece of text or model call: it is stored with the text that arrived,
        as ``cancel.status``, and :class:`RunCancelled` is raised. Ctrl-C
        (``KeyboardInterrupt``) stores it as cancelled too; a
        :class:`~agentcli.core.cancel.Terminated` (SIGTERM or SIGHUP, see
        ``stop_signals_interrupt``) is raised again once it is stored. When the
        session is deleted while the run goes on, the run is stored whole in a
        session recreated under the same id, and a :class:`Warning` says so.
        ``attachments`` (see :mod:`~agentcli.core.attachments`): text files go
        into the message before it, images beside it (a model whose ``vision``
        is not true refuses them: the run is stored as failed, like a message
        too long for the context window).
        """
        if attachments:
            message = compose(message, attachments)
        if not message or not message.strip():
            raise UsageError("the message is empty")
        if not user_id or not session_id:
            raise UsageError("user_id and session_id must not be empty")
        self.model.check_configured()
        # On every run, not once per process: a long-lived process (the REPL)
        # must notice a run another process left behind.
        sweep_interrupted(self.db)
        session, run = self.db.begin_run(
            user_id,
            session_id,
            message,
            self.model.id,
            current_owner(),
            attachments=[a.meta() for a in attachments] or None,
            instructions=self.given_instructions,
            role=self.role,
        )
        settings = self.run_settings(session)
        emit = self._sink(on_event)
        emit(RunStarted(run.run_id, session_id, user_id))
        started = time.monotonic()
        streamed: list[str] = []

        def forward(text: str) -> None:
            if cancel is not None and cancel.requested:
                raise RunCancelled(cancel.reason)
            streamed.append(text)
            if on_text is not None:
                on_text(text)
            emit(TextDelta(text))

        new: list[dict[str, Any]] = []
        try:
            pictures = images(attachments)
            if pictures and not getattr(self.model, "vision", False):
                raise FileRefused(no_vision(self.model.id, pictures[0].name))
            toolbox = self.memory.toolbox(user_id, session_id, run.run_id) if self.memory else None
            fitted = self.fit_context(session, user_id, message, toolbox, emit, pictures)
            response, usage = self._answer(fitted, toolbox, forward, new, emit, cancel)
        except (KeyboardInterrupt, RunCancelled) as exc:
            status, reason = "cancelled", "cancelled by the user"
            if isinstance(exc, Terminated):
                reason = f"cancelled: the process was stopped ({exc})"
            elif cancel is not None and cancel.requested:
                status, reason = cancel.status, cancel.reason
            partial = _unfinished(streamed, new)
            self._end(
                session,
                run,
                message,
                emit,
                status,
                new,
                partial,
                started,
                error=reason,
                settings=settings,
            )
            if isinstance(exc, Terminated):
                raise  # the process goes on stopping
            raise RunCancelled(status) from None
        except AgentCliError as exc:  # a model failure, or a message too long to send
            if isinstance(exc, ContextLengthError):
                # The server counted more than we did: the next run reads the window
                # and the token ratio it taught the model client.
                self._window = None
            kept = [exc.partial] if isinstance(exc, PartialResponseError) else []
            self._end(
                session,
                run,
                message,
                emit,
                "error",
                new,
                kept,
                started,
                error=str(exc),
                settings=settings,
            )
            raise
        except BaseException as exc:
            partial = _unfinished(streamed, new)
            error = type(exc).__name__
            self._end(
                session,
                run,
                message,
                emit,
                "error",
                new,
                partial,
                started,
                error=error,
                settings=settings,
            )
            raise
        duration = _ms_since(started)
        session, finished = self._finish(
            session,
            run,
            message,
            emit,
            status="completed",
            messages=new,
            model=response.model,
            usage=usage,
            duration_ms=duration,
            settings=settings,
        )
        result = RunResult(
            content=response.content,
            run_id=finished.run_id,
            session_id=session_id,
            user_id=user_id,
            usage=usage,
            model=response.model,
            duration_ms=duration,
            messages=new,
            memory_changes=list(toolbox.changes) if toolbox is not None else [],
            finish_reason=response.finish_reason,
        )
        for notice in result.memory_changes:
            emit(MemoryChanged(notice, "agent"))
        if response.finish_reason == "length":
            self.warn(f"reply cut at {fitted.max_tokens:,} tokens; --max-tokens raises it", emit)
        if toolbox and self.memory is not None and self.memory.agentic:
            self._watch_tool_use(message, new, emit)
        emit(RunCompleted(result))
        follow = RunContext(user_id, session, finished, message, result, emit)
        if background:
            self._submit(lambda: self._after_run(follow))
        else:
            self._after_run(follow)
        return result

    def wait(self) -> None:
        """Block until background follow-up work has finished."""
        if self._jobs is not None and self._worker is not None:
            self._jobs.put(None)
            self._worker.join()
            self._jobs = self._worker = None

    def use_model(self, model: ChatModel) -> None:
        """Answer the following runs with ``model`` (``/model``); the memory manager and
        the folds follow it when they used the chat model."""
        old = self.model
        for part in (self.memory, self.summarizer):
            if part is not None and part.model is old:
                part.model = model
        self.model = model
        self.notes = getattr(model, "notes", None) or Notes()
        self._window = None
        self._tools_rejected = bool(self.notes.recent(TOOLS_REJECTED))

    def get_user_memories(self, *, user_id: str) -> list[Memory]:
        return self.db.list_memories(user_id)

    def get_session_summary(self, *, user_id: str, session_id: str) -> str | None:
        found = self.db.get_session(user_id, session_id)
        return found.summary if found else None

    def summarize_session(self, *, user_id: str, session_id: str) -> SessionSummary:
        """Fold every completed run of a session into its summary now (``/summary``)."""
        from .summary import Summarizer

        self.model.check_configured()
        sweep_interrupted(self.db)  # a dead process's "running" run would stop the fold
        summarizer = self.summarizer or Summarizer(
            self.db,
            model=self.model,
            batch_runs=1,
            history_runs=0,
            max_tokens=self._summary_max_tokens,
            context_window=self.context_window,
        )
        return summarizer.summarize(user_id, session_id)

    def context_window(self) -> int:
        """The model's context window in tokens: the setting, else what the server
        reports (the model client asks and keeps the answer), else a default."""
        if self._window is None:
            asked = None
            if self.configured_window is None:
                ask = getattr(self.model, "context_window", None)
                try:
                    asked = ask() if callable(ask) else None
                except Exception as exc:  # a probe that fails must not fail the run
                    log.info("could not ask the server for its context window: %s", exc)
            window = self.configured_window or asked or DEFAULT_CONTEXT_WINDOW
            # A window the server itself stated when refusing a request beats a setting.
            refused = self.notes.get(CONTEXT_WINDOW)
            if isinstance(refused, dict) and refused.get("source") == "server error":
                window = min(window, int(refused.get("tokens") or window))
            self._window = window
        return self._window

    def session_instructions(self, session: Session) -> str:
        """The instructions a run of ``session`` is sent: those given to this agent,
        else the session's own, else the configured ones, else the built-in."""
        if self.given_instructions:
            return self.given_instructions
        if self.given_instructions is None and session.instructions:
            return session.instructions
        return self.instructions

    def run_settings(self, session: Session) -> dict[str, Any]:
        """What a run of ``session`` is sent, as recorded with it: its instructions
        (``None``: the built-in ones), its role and the generation options."""
        instructions = self.session_instructions(session)
        return {
            "instructions": None if instructions == DEFAULT_INSTRUCTIONS else instructions,
            "role": session.role,
            "options": {"max_tokens": self.max_tokens, **self.options},
        }

    # -- the parts of a run ---------------------------------------------------
    def fit_context(
        self,
        session: Session,
        user_id: str,
        message: str,
        toolbox: Toolbox | None,
        emit: EventSink | None = None,
        pictures: Sequence[Attachment] = (),
    ) -> Fit:
        """The context of this run, fitted to the context window (see ``fitting``);
        ``pictures`` are sent with the message as image parts."""
        tools = toolbox.specs() if toolbox and not self._tools_rejected else None
        ratio = float(self.notes.get(TOKEN_RATIO) or 1.0)
        measure = Measure(self.context_window(), self.max_tokens, tools, ratio)
        parts = [p.image_part() for p in pictures]
        context = self.build_context(session, user_id, message)
        context.images = parts

        def fold(runs: int) -> Any:
            assert self.summarizer is not None
            try:
                self.summarizer.fold_oldest(user_id, session, keep=len(context.history) - runs)
            except Exception as exc:  # the runs are left out instead
                self.warn(f"summary failed: {exc}; older runs were left out instead", emit)
                return None
            rebuilt = self.build_context(session, user_id, message)
            rebuilt.images = parts
            return rebuilt

        memory = self.memory
        return fit(
            context,
            measure,
            fold=fold if self.summarizer is not None else None,
            shrink_memories=(
                (lambda budget: memory.context_blocks(user_id, message, budget=budget))
                if memory is not None
                else None
            ),
            memory_budget=memory.token_budget if memory is not None else 0,
        )

    def build_context(self, session: Session, user_id: str, message: str) -> Context:
        context = Context(instructions=self.session_instructions(session), message=message)
        if self.add_history_to_context and self.num_history_runs > 0:
            after: int | None = None
            limit: int | None = self.num_history_runs
            with self.db.reading():  # the summary and the runs after it, as of one moment
                if self.summarizer is not None:
                    context.summary, after, limit = self.summarizer.window(
                        session, self.num_history_runs
                    )
                context.history = self.db.context_runs(session.pk, limit=limit, after_run_pk=after)
        if self.memory is not None:
            context.memories, context.recalled = self.memory.context_blocks(user_id, message)
        return context

    def _answer(
        self,
        fitted: Fit,
        toolbox: Toolbox | None,
        on_text: Callable[[str], None],
        new: list[dict[str, Any]],
        emit: EventSink,
        cancel: Cancellation | None = None,
    ) -> tuple[ModelResponse, Usage]:
        """Call the model, running tool calls until it answers in text."""
        messages = fitted.context.messages()
        cap = fitted.max_tokens
        usage = Usage()
        for round_no in range(self.max_tool_rounds + 1):
            if cancel is not None and cancel.requested:
                raise RunCancelled(cancel.reason)
            offer = None
            if toolbox and round_no < self.max_tool_rounds and not self._tools_rejected:
                offer = toolbox.specs()
            try:
                response = self.model.complete(
                    messages + new, tools=offer, on_text=on_text, max_tokens=cap
                )
            except ToolsRejectedError as exc:
                # A model without tool use: answer without memory tools from now on
                # (the model client keeps the refusal, so this is said once).
                self._tools_rejected = True
                self.warn(f"{exc}; {TOOLS_REFUSED_HINT}", emit)
                offer = None
                response = self.model.complete(
                    messages + new, tools=None, on_text=on_text, max_tokens=cap
                )
            for notice in response.notices:
                self.warn(notice, emit)
            usage += response.usage
            if response.tool_calls and not offer:
                response.tool_calls = []  # tools were not offered: keep the text only
            new.append(response.to_message())
            if not response.tool_calls:
                return response, usage
            for call in response.tool_calls:
                emit(ToolCallEvent(call.name, call.arguments))
                result = toolbox.call(call.name, call.arguments) if toolbox else "error"
                emit(ToolResultEvent(call.name, result))
                new.append({"role": "tool", "tool_call_id": call.id, "content": result})
        raise AssertionError("unreachable: the last round offers no tools")

    def _watch_tool_use(self, message: str, new: list[dict[str, Any]], emit: EventSink) -> None:
        """Say once when the model never calls its memory tools though told about the user."""
        if any(m.get("tool_calls") for m in new):
            self.notes.set("memory_tools_used", True)
            return
        if self._tools_rejected or not states_facts(message) or self.notes.get("memory_tools_used"):
            return
        if self.notes.increment("memory_tools_unused_runs") >= UNUSED_TOOL_RUNS and self.notes.once(
            "warned_memory_tools_unused"
        ):
            self.warn(
                f"the model called no memory tool in {UNUSED_TOOL_RUNS} runs that told it about "
                "you, so nothing is being remembered: it may not use tools well; "
                "--memory automatic saves memories without relying on it",
                emit,
            )

    def _finish(
        self, session: Session, run: Run, message: str, emit: EventSink, **end: Any
    ) -> tuple[Session, Run]:
        """Store the end of ``run`` (``end``: ``finish_run``'s arguments); the session
        and the run as stored.

        When the session was deleted while the run went on, the run is not
        lost: it is stored whole in a session recreated under the same id,
        and a warning says so.
        """
        try:
            return session, self.db.finish_run(run.pk, **end)
        except RunGoneError:
            pass
        model = run.model or self.model.id
        session, again = self.db.begin_run(
            session.user_id,
            session.session_id,
            message,
            model,
            current_owner(),
            attachments=run.attachments,
            instructions=session.instructions,
            role=session.role,
        )
        finished = self.db.finish_run(again.pk, **end)
        self.warn(
            f"session {session.session_id} was deleted while this reply was written; "
            f"it was kept in a new session {session.session_id}",
            emit,
        )
        return session, finished

    def _end(
        self,
        session: Session,
        run: Run,
        message: str,
        emit: EventSink,
        status: str,
        new: list[dict[str, Any]],
        streamed: list[str],
        started: float,
        *,
        error: str,
        settings: dict[str, Any] | None = None,
    ) -> None:
        partial = "".join(streamed)
        messages = list(new)
        if partial and not (messages and messages[-1].get("content") == partial):
            messages.append({"role": "assistant", "content": partial})
        try:
            self._finish(
                session,
                run,
                message,
                emit,
                status=status,
                messages=messages,
                error=error,
                duration_ms=_ms_since(started),
                settings=settings,
            )
        except Exception as exc:  # the original failure matters more
            log.warning("could not record the end of run %s: %s", run.run_id, exc)

    # -- follow-up work ---------------------------------------------------------
    def _after_run(self, follow: RunContext) -> None:
        for part, name in ((self.memory, "memory update"), (self.summarizer, "summary")):
            if part is None:
                continue
            try:
                part.after_run(follow)
            except Exception as exc:  # never fails the run
                self.warn(f"{name} failed: {exc}", follow.emit)
        follow.emit(FollowUpDone(follow.run.run_id))

    def _sink(self, on_event: EventSink | None) -> EventSink:
        chosen = on_event or self.on_event
        return chosen if chosen is not None else _ignore

    def warn(self, text: str, emit: EventSink | None = None) -> None:
        """A warning: to ``on_warning`` when set, as a :class:`Warning` event, else logged."""
        if self.on_warning is not None:
            self.on_warning(text)
        sink = emit or self.on_event
        if sink is not None:
            sink(Warning(text))
        elif self.on_warning is None:
            log.warning("%s", text)

    def _submit(self, job: Callable[[], None]) -> None:
        if self.executor is not None:
            self.executor.submit(job)
            return
        if self._jobs is None:
            self._jobs = queue.Queue()
            self._worker = threading.Thread(target=self._work, name="agentcli-after-run")
            self._worker.daemon = True
            self._worker.start()
        self._jobs.put(job)

    def _work(self) -> None:
        assert self._jobs is not None
        while (job := self._jobs.get()) is not None:
            job()


def _ignore(event: object) -> None:
    pass


def _unfinished(streamed: list[str], new: list[dict[str, Any]]) -> list[str]:
    """The streamed text of the round that did not finish; earlier rounds are in ``new``."""
    text = "".join(streamed)
    done = "".join(m.get("content") or "" for m in new if m.get("role") == "assistant")
    return [text[len(done) :]] if text.startswith(done) else [text]


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
