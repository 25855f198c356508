"""``agentcli doctor``: what the configured model endpoint can do, checked for real.

Each check is one small request: the model list, a streamed reply of a few
tokens, a tool round trip, the context window. Every problem found comes with
the change that fixes it, and the memory mode that suits the endpoint is
recommended: ``agentic`` when the model calls tools, else ``automatic``.
"""

from __future__ import annotations

import time
from typing import Any, NamedTuple

from ..core.errors import AgentCliError, ToolsRejectedError
from ..core.protocols import ChatModel
from .fitting import DEFAULT_CONTEXT_WINDOW

# The tool the model is asked to call: harmless, with one obvious argument.
PROBE_TOOL = {
    "type": "function",
    "function": {
        "name": "record_number",
        "description": "Record a number the user gives.",
        "parameters": {
            "type": "object",
            "properties": {"number": {"type": "integer"}},
            "required": ["number"],
        },
    },
}
PROBE_TOOL_MESSAGES = [
    {"role": "system", "content": "You record numbers with the record_number tool."},
    {"role": "user", "content": "Record the number 7 with the record_number tool."},
]
PROBE_CHAT = [{"role": "user", "content": "Reply with the single word: OK"}]


class Check(NamedTuple):
    """One line of the doctor's table; ``ok`` is ``None`` for what is only information."""

    name: str
    ok: bool | None
    detail: str
    fix: str | None = None


class Diagnosis(NamedTuple):
    endpoint: str
    model: str
    checks: list[Check]
    models: list[str] | None
    context_window: int | None
    context_source: str
    stream_usage: bool | None
    tool_calls: bool | None
    recommended_memory: str

    @property
    def usable(self) -> bool:
        """Whether chatting works at all (the endpoint answers a streamed reply)."""
        return any(c.name == "streaming" and c.ok for c in self.checks)

    def problems(self) -> list[Check]:
        return [c for c in self.checks if c.ok is False]


def diagnose(model: ChatModel) -> Diagnosis:
    """Probe ``model``'s endpoint (see the module's docstring)."""
    endpoint = str(getattr(model, "endpoint", "") or "")
    checks: list[Check] = []
    models, seconds = _timed(getattr(model, "list_models", None))
    if models is not None:  # timed again: the first call also loads the client
        models, seconds = _timed(getattr(model, "list_models", None))
    if models is not None:
        checks.append(Check("reachable", True, f"yes ({seconds * 1000:.0f} ms)"))
        names = [str(m.get("id") or m.get("name")) for m in models]
        listed = ", ".join(names[:5]) + (f" (+{len(names) - 5})" if len(names) > 5 else "")
        if len(names) > 1 and model.id not in names:
            checks.append(
                Check(
                    "models",
                    False,
                    f"{listed}; not {model.id}",
                    f"set AGENTCLI_MODEL (or --model) to one of: {', '.join(names[:5])}",
                )
            )
        else:
            checks.append(Check("models", None, listed or "(none listed)"))
    else:
        names = None
    started = time.monotonic()
    usage_ok: bool | None = None
    try:
        reply = model.complete(PROBE_CHAT, stream=True, max_tokens=8)
        took = time.monotonic() - started
        if names is None:
            checks.insert(0, Check("reachable", True, f"yes (no model list; {took:.1f} s)"))
        checks.append(Check("streaming", True, f"yes ({took:.1f} s for {reply.content[:20]!r})"))
        usage_ok = not reply.usage.estimated
        checks.append(
            Check(
                "usage in streams",
                None,
                "yes" if usage_ok else "no: agentcli estimates token counts (marked estimated)",
            )
        )
    except AgentCliError as exc:
        if names is None:
            checks.insert(
                0,
                Check(
                    "reachable",
                    False,
                    _short(str(exc)),
                    "check that the server runs and that OPENAI_BASE_URL ends in /v1",
                ),
            )
        checks.append(Check("streaming", False, _short(str(exc)), _chat_fix(str(exc))))
        return _done(model, endpoint, checks, names, usage_ok, None)
    tools_ok = _tool_check(model, checks)
    return _done(model, endpoint, checks, names, usage_ok, tools_ok)


def _tool_check(model: ChatModel, checks: list[Check]) -> bool:
    try:
        reply = model.complete(PROBE_TOOL_MESSAGES, tools=[PROBE_TOOL], max_tokens=64)
    except ToolsRejectedError as exc:
        checks.append(
            Check(
                "tool calls",
                False,
                f"refused: {_short(str(exc))}",
                "llama-server: start it with --jinja; Ollama: a model with tool support; "
                "or use --memory automatic",
            )
        )
        return False
    except AgentCliError as exc:
        checks.append(Check("tool calls", False, _short(str(exc)), "use --memory automatic"))
        return False
    for notice in reply.notices:
        checks.append(Check("tool calls (streamed)", None, notice))
    if reply.tool_calls:
        checks.append(Check("tool calls", True, f"yes ({reply.tool_calls[0].name})"))
        return True
    checks.append(
        Check(
            "tool calls",
            False,
            "the model answered in text instead of calling the tool",
            "use --memory automatic (memory without relying on the model's tool calls)",
        )
    )
    return False


def _done(
    model: ChatModel,
    endpoint: str,
    checks: list[Check],
    names: list[str] | None,
    usage_ok: bool | None,
    tools_ok: bool | None,
) -> Diagnosis:
    tokens, source = None, "not reported"
    ask = getattr(model, "context_window_info", None)
    if callable(ask):
        try:
            tokens, source = ask(fresh=True)
        except AgentCliError:
            pass
    if tokens:
        checks.append(Check("context window", None, f"{tokens:,} tokens ({source})"))
    else:
        checks.append(
            Check(
                "context window",
                None,
                f"not reported: agentcli assumes {DEFAULT_CONTEXT_WINDOW:,} tokens "
                "(set context_window to the model's)",
            )
        )
    memory = "agentic" if tools_ok else "automatic"
    checks.append(Check("memory mode", None, f"{memory} recommended"))
    return Diagnosis(endpoint, model.id, checks, names, tokens, source, usage_ok, tools_ok, memory)


def _timed(probe: Any) -> tuple[Any, float]:
    if not callable(probe):
        return None, 0.0
    started = time.monotonic()
    try:
        found = probe()
    except AgentCliError:
        found = None
    return found, time.monotonic() - started


def _short(text: str) -> str:
    """An error without the 'model call to URL failed: ' prefix."""
    return text.split(" failed: ", 1)[-1]


def _chat_fix(error: str) -> str:
    low = error.casefold()
    if "/v1" in low:
        return "add /v1 to OPENAI_BASE_URL"
    if "connection" in low:
        return "start the server, or check OPENAI_BASE_URL"
    if "401" in low or "403" in low:
        return "check OPENAI_API_KEY"
    if "404" in low:
        return "check OPENAI_BASE_URL (it usually ends in /v1) and the model name"
    return "check the server's log"
