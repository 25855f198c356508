"""Fitting a request into the model's context window.

Before each call the request is measured: instructions + summary + memories +
history + the message + the tool definitions + room for the reply must not
exceed the window. Tokens are estimated locally (UTF-8 bytes ÷ 3, see
:func:`agentcli.core.text.estimate_tokens`), times the ratio learned from the
server when its counts ran higher. When the request is too large:

1. history runs are left out, oldest first (with summaries on, the runs to
   leave out are first folded into the summary, so they are condensed, not
   forgotten);
2. then memories shrink (a smaller budget, down to none);
3. then the summary is left out.

A message that cannot fit even alone (instructions, message and room for
the reply) is refused before any call: :class:`MessageTooLongError`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any, NamedTuple

from ..core.attachments import IMAGE_TOKENS
from ..core.context import Context
from ..core.errors import MessageTooLongError
from ..core.text import estimate_message_tokens, estimate_tokens

# When the server does not say and no setting does (documented in the README).
DEFAULT_CONTEXT_WINDOW = 8192
# Tokens kept free besides the reply: chat templates add a few per message.
SAFETY_TOKENS = 64
# Room kept for the reply when fitting: max_tokens, but never more than this
# share of the window (a larger cap still goes out when there is room).
REPLY_SHARE = 4


class Fit(NamedTuple):
    """A fitted request: the context, and the ``max_tokens`` to send with it."""

    context: Context
    max_tokens: int
    tokens: int  # the request's estimated size, reply excluded


class Measure:
    """Sizes in tokens for one window, tool set and ratio."""

    def __init__(
        self,
        window: int,
        max_tokens: int,
        tools: list[dict[str, Any]] | None,
        ratio: float = 1.0,
    ):
        self.window = window
        self.max_tokens = max_tokens
        self.ratio = max(1.0, ratio)
        self.tool_tokens = estimate_tokens(json.dumps(tools)) if tools else 0
        self.reserve = max(1, min(max_tokens, window // REPLY_SHARE))
        self.limit = window - self.reserve - SAFETY_TOKENS

    def tokens(self, context: Context) -> int:
        raw = estimate_message_tokens(context.messages()) + self.tool_tokens
        return math.ceil(raw * self.ratio)

    def fits(self, context: Context) -> bool:
        return self.tokens(context) <= self.limit

    def reply_cap(self, tokens: int) -> int:
        """``max_tokens`` for a request of ``tokens``: the cap, or the room left if less."""
        return max(1, min(self.max_tokens, self.window - tokens - SAFETY_TOKENS))


def refuse_unless_alone_fits(context: Context, measure: Measure) -> None:
    """Raise :class:`MessageTooLongError` when the message cannot fit even alone."""
    alone = Context(
        instructions=context.instructions, message=context.message, images=context.images
    )
    if measure.fits(alone):
        return
    raw = estimate_tokens(context.message) + IMAGE_TOKENS * len(context.images)
    message = math.ceil(raw * measure.ratio)
    raise MessageTooLongError(
        f"the message is about {message:,} tokens and does not fit the model's context "
        f"window of {measure.window:,} tokens ({measure.reserve:,} of them kept for the "
        "reply): shorten it, or set context_window if the model takes more"
    )


def fit(
    context: Context,
    measure: Measure,
    *,
    fold: Callable[[int], Context | None] | None = None,
    shrink_memories: Callable[[int], tuple[str | None, str | None]] | None = None,
    memory_budget: int = 0,
) -> Fit:
    """``context`` cut down to the window (see the module's docstring).

    ``fold(n)`` folds the ``n`` oldest history runs into the summary and
    returns the context built afresh (``None`` when it could not);
    ``shrink_memories(budget)`` gives the memory blocks within ``budget``
    tokens, starting below ``memory_budget``.
    """
    refuse_unless_alone_fits(context, measure)
    if measure.fits(context):
        return Fit(context, measure.reply_cap(measure.tokens(context)), measure.tokens(context))
    drop = _runs_to_drop(context, measure)
    if drop and fold is not None:
        folded = fold(drop)
        if folded is not None:
            context = folded
            drop = _runs_to_drop(context, measure)
    if drop:
        context.history = context.history[drop:]
    budget = memory_budget
    while shrink_memories is not None and budget > 0 and not measure.fits(context):
        budget = budget // 2 if budget > 64 else 0
        context.memories, context.recalled = shrink_memories(budget)
    if not measure.fits(context):
        context.memories = context.recalled = None
    if not measure.fits(context):
        context.summary = None
    tokens = measure.tokens(context)
    return Fit(context, measure.reply_cap(tokens), tokens)


def _runs_to_drop(context: Context, measure: Measure) -> int:
    """How many of the oldest history runs must go for the rest to fit (all, at most)."""
    history = context.history
    for drop in range(len(history) + 1):
        context.history = history[drop:]
        if measure.fits(context):
            context.history = history
            return drop
    context.history = history
    return len(history)
