"""Rolling session summaries: runs that left the history window, folded into one text.

The context of a run is the instructions, memories, the session's summary and
every completed run after the run the summary covers through, verbatim. So no
run is ever both summarised and verbatim, and there is never a gap between
the two while folds succeed.

After a run, once at least ``batch_runs`` completed runs have left the window
of the last N, they are folded in: one model call given the previous summary
and only those runs. Right after a fold exactly N runs are verbatim; between
folds, N to N + batch_runs - 1.

Bounds, for a fold that keeps failing or for summaries switched on in an old
long session:

* A fold reads at most ``MAX_FOLD_RUNS`` runs and ``MAX_FOLD_CHARS`` characters
  (each message cut at ``MAX_MESSAGE_CHARS``, in SQL), and one run's follow-up
  work makes at most ``MAX_FOLDS_PER_RUN`` folds; a backlog is worked off
  oldest first over the next runs (or at once by ``agentcli summarize``).
* The verbatim part is capped at N + 2 * batch_runs runs (:meth:`Summarizer.
  verbatim_cap`). Only when folding has fallen further behind than that (many
  failures in a row, or a backlog being worked off) do the oldest unfolded
  runs drop out of the context until folds catch up. Cost stays bounded; a
  temporary gap is the price.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..core.errors import ModelError
from ..core.events import SummaryUpdated
from ..core.protocols import ChatModel, Store
from ..core.records import Message, Session, Usage
from ..core.results import SessionSummary
from ..core.text import BYTES_PER_TOKEN, estimate_tokens

if TYPE_CHECKING:
    from ..core.results import RunContext

log = logging.getLogger("agentcli")

MAX_FOLD_RUNS = 20
MAX_FOLD_CHARS = 48_000
MAX_MESSAGE_CHARS = 4_000
MAX_FOLDS_PER_RUN = 3
SUMMARY_WORDS = 300
# Shortest cut of one message in a fold, however small the context window.
MIN_MESSAGE_CHARS = 200

FOLD_INSTRUCTIONS = (
    "You maintain the running summary of a long conversation between a user and an "
    "assistant. You are given the previous summary (if any) and the conversation turns "
    "that followed it. Write the updated summary: it replaces the previous one, so carry "
    "over everything from it that still matters. Keep names, facts about the user, "
    "decisions, commitments, open questions and dates; drop greetings and small talk. "
    f"Be concise: Markdown bullet points, at most about {SUMMARY_WORDS} words. "
    "Answer with the summary only."
)


def stored_summary(db: Store, user_id: str, session_id: str) -> SessionSummary:
    """The summary as stored, without calling a model; ``NotFoundError`` for no such session."""
    session = db.require_session(user_id, session_id)
    state = db.summary_state(session.pk)
    runs = db.count_completed_runs(session.pk, through_pk=state.through_pk)
    return SessionSummary(
        user_id=user_id,
        session_id=session_id,
        summary=state.summary,
        covers_through_run=state.through_run_id,
        runs=runs if state.through_pk is not None else 0,
        updated_at=state.updated_at,
    )


class Summarizer:
    """Keeps a session's rolling summary; the Agent asks it for the history window."""

    def __init__(
        self,
        db: Store,
        *,
        model: ChatModel,
        batch_runs: int,
        history_runs: int = 5,
        max_tokens: int = 768,
        context_window: Callable[[], int] | None = None,
    ):
        self.db = db
        self.model = model
        self.batch_runs = max(1, batch_runs)
        self.history_runs = history_runs
        self.max_tokens = max_tokens
        self.context_window = context_window

    def fold_chars(self, previous: str | None) -> int:
        """The most characters of turns one fold may send: ``MAX_FOLD_CHARS``, or less
        when the context window (less the reply, instructions and previous summary)
        holds less."""
        if self.context_window is None:
            return MAX_FOLD_CHARS
        used = self.max_tokens + estimate_tokens(FOLD_INSTRUCTIONS) + estimate_tokens(previous)
        room = self.context_window() - used - 128  # the prompt's own words, the template
        return max(MIN_MESSAGE_CHARS, min(MAX_FOLD_CHARS, room * BYTES_PER_TOKEN))

    def fold_oldest(self, user_id: str, session: Session, *, keep: int) -> None:
        """Fold now every run of the verbatim window except the newest ``keep`` (a
        request that would not fit the context window otherwise)."""
        self._catch_up(
            user_id, session.pk, keep=keep, min_runs=1, max_folds=MAX_FOLDS_PER_RUN, run_pk=None
        )

    def verbatim_cap(self, num_history_runs: int) -> int:
        """The most runs ever sent verbatim: room for the window and a late fold."""
        return num_history_runs + 2 * self.batch_runs

    def window(
        self, session: Session, num_history_runs: int
    ) -> tuple[str | None, int | None, int | None]:
        """(summary, run pk it covers through, verbatim limit) read fresh from the store.

        The summary and its run come from one row, so they always match; the
        runs after that run are then read by index.
        """
        state = self.db.summary_state(session.pk)
        return state.summary, state.through_pk, self.verbatim_cap(num_history_runs)

    def after_run(self, follow: RunContext) -> None:
        """Fold the runs that left the window, once there are at least ``batch_runs``."""
        if self.history_runs <= 0:
            return
        self._catch_up(
            follow.user_id,
            follow.session.pk,
            keep=self.history_runs,
            min_runs=self.batch_runs,
            max_folds=MAX_FOLDS_PER_RUN,
            run_pk=follow.run.pk,
            on_fold=lambda through: follow.emit(SummaryUpdated(follow.session.session_id, through)),
        )

    def summarize(self, user_id: str, session_id: str) -> SessionSummary:
        """Bring the summary up to date with every completed run, store and return it."""
        session = self.db.require_session(user_id, session_id)
        self._catch_up(user_id, session.pk, keep=0, min_runs=1, max_folds=None, run_pk=None)
        return stored_summary(self.db, user_id, session_id)

    # -- folding ----------------------------------------------------------------
    def _catch_up(
        self,
        user_id: str,
        session_pk: int,
        *,
        keep: int,
        min_runs: int,
        max_folds: int | None,
        run_pk: int | None,
        on_fold: Callable[[str], None] | None = None,
    ) -> None:
        """Fold, oldest first, the runs outside the newest ``keep`` in bounded chunks."""
        folds = 0
        while max_folds is None or folds < max_folds:
            state = self.db.summary_state(session_pk)
            pks = self.db.runs_to_fold(
                session_pk,
                after_pk=state.through_pk,
                keep=keep,
                limit=max(MAX_FOLD_RUNS, min_runs),
            )
            if not pks or (folds == 0 and len(pks) < min_runs):
                return
            budget = self.fold_chars(state.summary)
            runs, cut = _bounded(self.db.messages_by_run(pks, max_chars=MAX_MESSAGE_CHARS), budget)
            text = self._fold(state.summary, runs, user_id, session_pk, run_pk, cut)
            stored = self.db.set_summary(
                session_pk, text, through_pk=runs[-1][0].run_pk, expected_through=state.through_pk
            )
            if not stored:
                log.info("another process folded session %s first; trying again", session_pk)
            elif on_fold is not None:
                on_fold(runs[-1][0].run_id)
            folds += 1

    def _fold(
        self,
        previous: str | None,
        runs: list[list[Message]],
        user_id: str,
        session_pk: int,
        run_pk: int | None,
        cut: int = MAX_MESSAGE_CHARS,
    ) -> str:
        messages = fold_request(previous, runs, cut)
        started = time.monotonic()
        try:
            # Streamed like a reply: on a slow server the timeout bounds the first
            # token and the stall limit each pause, not the whole summary.
            response = self.model.complete(messages, purpose="summary", max_tokens=self.max_tokens)
            text = response.content.strip()
            if not text:
                raise ModelError("the model answered with an empty summary")
        except Exception as exc:
            self.db.record_model_call(
                user_id=user_id,
                session_pk=session_pk,
                run_pk=run_pk,
                purpose="summary",
                status="error",
                model=self.model.id,
                usage=Usage(),
                error=str(exc),
                duration_ms=_ms_since(started),
            )
            raise
        self.db.record_model_call(
            user_id=user_id,
            session_pk=session_pk,
            run_pk=run_pk,
            purpose="summary",
            status="completed",
            model=response.model,
            usage=response.usage,
            duration_ms=_ms_since(started),
        )
        return text


def fold_request(
    previous: str | None, runs: list[list[Message]], cut: int = MAX_MESSAGE_CHARS
) -> list[dict[str, Any]]:
    """The messages of one fold: the previous summary and only the runs to fold in,
    each message cut at ``cut`` characters."""
    before = previous.strip() if previous else "(none yet: these are the first turns)"
    turns = "\n\n".join(_render_run(run, cut) for run in runs)
    prompt = (
        f"Previous summary:\n{before}\n\n"
        f"Conversation turns to fold in, oldest first:\n\n{turns}\n\n"
        "Write the updated summary."
    )
    return [
        {"role": "system", "content": FOLD_INSTRUCTIONS},
        {"role": "user", "content": prompt},
    ]


def _render_run(run: list[Message], cut: int = MAX_MESSAGE_CHARS) -> str:
    when = run[0].created_at[:16].replace("T", " ")
    lines = [f"### Turn of {when} UTC"]
    for message in run:
        text = _cut(message.content or "", cut)
        if message.role == "user":
            lines.append(f"User: {text}")
        elif message.role == "tool":
            lines.append(f"Tool result: {text}")
        else:
            if text:
                lines.append(f"Assistant: {text}")
            for call in message.tool_calls or []:
                function = call.get("function", {})
                args = _cut(function.get("arguments", ""), cut)
                lines.append(f"Assistant called {function.get('name', '?')}({args})")
    return "\n".join(lines)


def _cut(text: str, cut: int = MAX_MESSAGE_CHARS) -> str:
    return text if len(text) <= cut else text[:cut] + " […cut]"


def _bounded(
    runs: list[list[Message]], max_chars: int = MAX_FOLD_CHARS
) -> tuple[list[list[Message]], int]:
    """The leading runs whose text fits ``max_chars``, and the cut of each message.

    Always at least one run: when even the first does not fit, its messages
    are cut shorter (never below ``MIN_MESSAGE_CHARS``)."""
    cut = MAX_MESSAGE_CHARS
    first = runs[0]
    while cut > MIN_MESSAGE_CHARS and _size(_render_run(first, cut)) > max_chars:
        cut = max(MIN_MESSAGE_CHARS, cut // 2)
    taken: list[list[Message]] = []
    size = 0
    for run in runs:
        size += _size(_render_run(run, cut))
        if taken and size > max_chars:
            break
        taken.append(run)
    return taken, cut


def _size(text: str) -> int:
    """Characters of ASCII text; more for text whose characters take more UTF-8 bytes."""
    return len(text.encode("utf-8", "surrogatepass"))


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
