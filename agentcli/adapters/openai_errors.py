"""What a server's refusal means, read from its status and message.

Real servers word the same refusal differently (llama.cpp, llama-cpp-python,
vLLM, Ollama, LM Studio, OpenAI); these functions recognise the forms they
use, so that the client retries only what can succeed and turns the rest
into one clear line.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

# Statuses worth another attempt: the same request may well succeed later.
RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})

_CONTEXT_WORDS = (
    "context_length_exceeded",
    "exceed_context_size",
    "exceeds the available context size",
    "exceed context window",
    "maximum context length",
    "context length",
    "context window",
    "context size",
    "too many tokens",
    "prompt is too long",
    "input is too long",
)
_WINDOW_PATTERNS = (
    re.compile(r"available context size \((\d+) tokens?\)"),
    re.compile(r"context window of (\d+)"),
    re.compile(r"maximum context length is (\d+)"),
    re.compile(r"context length (?:is|of) (\d+)"),
    re.compile(r"n_ctx[\"']?\s*[:=]\s*(\d+)"),
)
_REQUEST_PATTERNS = (
    re.compile(r"request \((\d+) tokens?\)"),
    re.compile(r"requested tokens \((\d+)\)"),
    re.compile(r"resulted in (\d+) tokens"),
    re.compile(r"you requested (\d+) tokens"),
    re.compile(r"n_prompt_tokens[\"']?\s*[:=]\s*(\d+)"),
)
# A refusal of tools: llama.cpp without --jinja ("tools param requires --jinja
# flag", HTTP 500), Ollama ("... does not support tools", 400), vLLM without
# auto tool choice ("\"auto\" tool choice requires --enable-auto-tool-choice").
_TOOL_WORDS = ("tool", "function call", "function_call")
_REFUSAL_WORDS = (
    "requires",
    "not support",
    "unsupported",
    "not supported",
    "not enabled",
    "not available",
    "not allowed",
    "unknown field",
    "unrecognized",
    "extra inputs are not permitted",
)
# A 500 that says the request itself is wrong: sending it again cannot help.
_INVALID_WORDS = (
    "invalid",
    "validation",
    "should be",
    "must be",
    "is required",
    "missing",
    "malformed",
    "not supported",
    "unsupported",
    "requires",
    "failed to parse",
    "cannot parse",
)


class ContextOverflow(NamedTuple):
    """A context-length refusal: the window and the request's size, when the server said."""

    window: int | None
    request: int | None


def error_text(body: Any, fallback: str = "") -> str:
    """The message of an error body (``{"error": {"message": ...}}`` and its variants)."""
    if isinstance(body, dict):
        detail = body.get("error", body)
        if isinstance(detail, dict):
            for key in ("message", "detail", "msg"):
                if detail.get(key):
                    return str(detail[key])
        elif isinstance(detail, str) and detail:
            return detail
        if body.get("detail"):
            return str(body["detail"])
    elif isinstance(body, str) and body:
        return body
    return fallback


def context_overflow(text: str, body: Any = None) -> ContextOverflow | None:
    """Whether ``text`` (with the error ``body``) refuses a request as too long for the context."""
    low = text.casefold()
    flat = f"{low} {body!r}".casefold() if body is not None else low
    if not any(word in flat for word in _CONTEXT_WORDS):
        return None
    window = _first_number(_WINDOW_PATTERNS, flat)
    return ContextOverflow(window, _first_number(_REQUEST_PATTERNS, flat))


def tools_refused(status: int, text: str) -> bool:
    """Whether the server refused the request because it offered tools."""
    low = text.casefold()
    if "stream" in low or not any(word in low for word in _TOOL_WORDS):
        return False
    if status == 400 and "tool" in low:
        return True  # 400s mentioning tools: the long-standing sign of a model without them
    return status in (400, 422, 500, 501) and any(word in low for word in _REFUSAL_WORDS)


def streamed_tools_refused(text: str) -> bool:
    """Whether the server refused to stream an answer that may call tools
    (llama-cpp-python: "Automatic streaming tool choice is not supported")."""
    low = text.casefold()
    return "stream" in low and "tool" in low and any(w in low for w in _REFUSAL_WORDS)


def max_tokens_renamed(text: str) -> bool:
    """Whether the server wants ``max_completion_tokens`` instead of ``max_tokens``."""
    low = text.casefold()
    return "max_tokens" in low and "max_completion_tokens" in low


def retryable(status: int, text: str, server_errors: int) -> bool:
    """Whether an HTTP error is worth another attempt.

    429, 502, 503 and 504, always; a 500 once, unless its message says the
    request is invalid; never any other 4xx."""
    if status in RETRYABLE_STATUSES:
        return True
    if status == 500:
        low = text.casefold()
        return server_errors <= 1 and not any(word in low for word in _INVALID_WORDS)
    return False


def _first_number(patterns: tuple[re.Pattern[str], ...], text: str) -> int | None:
    for pattern in patterns:
        found = pattern.search(text)
        if found:
            return int(found.group(1))
    return None
