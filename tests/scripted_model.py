"""An in-process chat model for tests: a :class:`~agentcli.core.protocols.ChatModel`
that answers from a script.

The agent, the memory manager and the summary folds call it as they would
call ``OpenAIChat``. It records every request as the Chat Completions body
would carry it (``model``, ``messages``, ``tools`` when offered, ``stream``
when streamed), together with the ``purpose`` the services gave ("chat",
"memory" or "summary"), and answers with the next step scripted for that
purpose, or else with that purpose's default answer:

- a chat is echoed: ``echo: MESSAGE``;
- a memory-manager call changes nothing: ``none``;
- a fold answers one bullet per user message: the previous summary's
  bullets, then the user messages of the turns it was sent.

It tells a manager call or a fold from a chat by ``purpose`` alone, never by
the prompt's text. The loopback server (``chat_server.py``) speaks the same
steps (:class:`Text`, :class:`ToolCalls`) over HTTP, for ``OpenAIChat``'s
contract tests and the end-to-end paths.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from agentcli.core.errors import ModelError, PartialResponseError
from agentcli.core.protocols import ChatModel, Purpose
from agentcli.core.records import Usage
from agentcli.core.results import ModelResponse, ToolCall

PURPOSES: tuple[Purpose, ...] = ("chat", "memory", "summary")


class Request(dict[str, Any]):
    """One model call: its Chat Completions body, and why the services made it."""

    def __init__(self, body: dict[str, Any], purpose: str = "chat") -> None:
        super().__init__(body)
        self.purpose = purpose

    @property
    def messages(self) -> list[dict[str, Any]]:
        return cast(list[dict[str, Any]], self["messages"])

    @property
    def tools(self) -> list[dict[str, Any]] | None:
        return cast("list[dict[str, Any]] | None", self.get("tools"))

    @property
    def stream(self) -> bool:
        return bool(self.get("stream"))

    @property
    def system(self) -> str:
        """The first message's text (the instructions)."""
        return str(self.messages[0].get("content") or "")

    def tool_results(self) -> list[str]:
        """The tool results the request carries back to the model, in order."""
        return [str(m["content"]) for m in self.messages if m["role"] == "tool"]

    def pairs(self) -> list[tuple[str, str | None]]:
        """(role, content) of every message after the first."""
        return [(m["role"], m.get("content")) for m in self.messages[1:]]


# -- answers ------------------------------------------------------------------------
@dataclass
class Text:
    """A text answer, streamed in ``chunk`` sized pieces."""

    text: str
    chunk: int = 8
    finish_reason: str = "stop"
    usage: bool = True
    delay: float = 0.0  # seconds between streamed pieces


@dataclass
class ToolCalls:
    """An answer calling tools: ``[(name, arguments)]``; arguments a dict or raw string."""

    calls: list[tuple[str, Any]]
    text: str = ""


@dataclass
class Fail:
    """Raise ``error(message)`` instead of answering: a :class:`ModelError` by default,
    a :class:`~agentcli.core.errors.ToolsRejectedError` for a model without tool use,
    any other exception for a failure the services do not expect."""

    message: str = "injected failure"
    error: type[Exception] = ModelError


@dataclass
class Cut:
    """Stream ``text``, then fail as a connection that closed mid-reply."""

    text: str
    chunk: int = 8
    message: str = "the connection closed before the reply was complete"


Answer = Text | ToolCalls | Fail | Cut
Responder = Callable[[Request], Answer]
Step = Answer | Responder


# -- reading a request --------------------------------------------------------------
def count_tokens(text: str) -> int:
    return max(1, len(text) // 4) if text else 0


def prompt_tokens(request: dict[str, Any]) -> int:
    total = 0
    for message in request.get("messages", []):
        total += count_tokens(message.get("content") or "")
        for call in message.get("tool_calls") or []:
            total += count_tokens(call["function"]["arguments"])
    return total


def last_user(request: dict[str, Any]) -> str:
    for message in reversed(request.get("messages", [])):
        if message.get("role") == "user":
            return str(message.get("content") or "")
    return ""


def folded(request: dict[str, Any]) -> tuple[list[str], list[str]]:
    """A fold's (previous summary's bullets, user messages of the turns to fold in)."""
    previous, turns = request["messages"][1]["content"].split("Conversation turns", 1)
    return re.findall(r"^- (.*)$", previous, re.M), re.findall(r"^User: (.*)$", turns, re.M)


# -- the default answers --------------------------------------------------------------
def echo(request: dict[str, Any]) -> Answer:
    return Text(f"echo: {last_user(request)}")


def nothing(request: dict[str, Any]) -> Answer:
    """The memory manager's answer when nothing needs to change."""
    return Text("none")


def fold(request: dict[str, Any]) -> Answer:
    previous, said = folded(request)
    return Text("\n".join(f"- {m}" for m in previous + said))


class ScriptedModel:
    """A :class:`ChatModel` answering from per-purpose scripts; thread-safe, so
    follow-up work on the agent's worker thread may call it too."""

    def __init__(
        self,
        id: str = "test-model",
        *,
        stream: bool = True,
        chat: Responder = echo,
        memory: Responder = nothing,
        summary: Responder = fold,
    ) -> None:
        self.id = id
        self.stream = stream
        self.default: dict[str, Responder] = {"chat": chat, "memory": memory, "summary": summary}
        self.requests: list[Request] = []
        self._steps: dict[str, list[Step]] = {purpose: [] for purpose in PURPOSES}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ScriptedModel(id={self.id!r})"

    def script(self, *steps: Step, purpose: Purpose = "chat") -> None:
        """Answer the next calls of ``purpose`` with these steps, in order."""
        with self._lock:
            self._steps[purpose].extend(steps)

    def pending(self, purpose: Purpose | None = None) -> int:
        """Scripted steps not used yet (of one purpose, or of all)."""
        with self._lock:
            chosen = [purpose] if purpose else list(PURPOSES)
            return sum(len(self._steps[p]) for p in chosen)

    def calls(self, purpose: Purpose) -> list[Request]:
        """The requests made for ``purpose``, in order."""
        with self._lock:
            return [r for r in self.requests if r.purpose == purpose]

    # -- the ChatModel protocol ------------------------------------------------------
    def check_configured(self) -> None:
        pass

    def complete(
        self,
        messages: list[dict[str, Any]],
        *,
        tools: list[dict[str, Any]] | None = None,
        on_text: Callable[[str], None] | None = None,
        stream: bool | None = None,
        purpose: Purpose = "chat",
        max_tokens: int | None = None,
    ) -> ModelResponse:
        streamed = self.stream if stream is None else stream
        body: dict[str, Any] = {"model": self.id, "messages": messages}
        if tools:
            body["tools"] = tools
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        if streamed:
            body["stream"] = True
        # Through JSON, as on the wire: a snapshot (the caller's lists grow after the
        # call), and a request that could not be sent fails here as it would there.
        request = Request(json.loads(json.dumps(body)), purpose)
        with self._lock:
            if purpose not in self._steps:
                raise AssertionError(f"unknown purpose {purpose!r}")
            self.requests.append(request)
            queue = self._steps[purpose]
            step = queue.pop(0) if queue else self.default[purpose]
        answer = step(request) if callable(step) else step
        return self._answer(request, answer, on_text if streamed else None)

    def _answer(
        self, request: Request, answer: Answer, on_text: Callable[[str], None] | None
    ) -> ModelResponse:
        if isinstance(answer, Fail):
            raise answer.error(answer.message)
        if isinstance(answer, Cut):
            _send(answer.text, answer.chunk, 0.0, on_text)
            raise PartialResponseError(answer.message, answer.text)
        prompt = prompt_tokens(request)
        if isinstance(answer, ToolCalls):
            _send(answer.text, len(answer.text) or 1, 0.0, on_text)
            calls = [
                ToolCall(f"call_{i}", n, _arguments(a)) for i, (n, a) in enumerate(answer.calls)
            ]
            usage = Usage(prompt, 10, 1)
            return ModelResponse(answer.text, calls, usage, "tool_calls", self.id)
        _send(answer.text, answer.chunk, answer.delay, on_text)
        usage = Usage(prompt, count_tokens(answer.text), 1) if answer.usage else Usage(calls=1)
        return ModelResponse(answer.text, [], usage, answer.finish_reason, self.id)


def _is_a_chat_model(model: ScriptedModel) -> ChatModel:
    return model  # mypy checks that the scripted model implements the protocol


def _send(text: str, chunk: int, delay: float, on_text: Callable[[str], None] | None) -> None:
    if on_text is None:
        return
    for start in range(0, len(text), chunk):
        if delay:
            time.sleep(delay)
        on_text(text[start : start + chunk])


def _arguments(arguments: Any) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments)
