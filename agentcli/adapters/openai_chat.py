"""The model client: Chat Completions through the ``openai`` SDK.

Streams or not, assembles streamed tool-call fragments, records token usage
and retries transient failures with backoff inside a bounded total time. The
``openai`` package is imported on first use only: it costs most of a second.
"""

from __future__ import annotations

import copy
import os
import random
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

from ..core.errors import (
    ConfigError,
    ModelError,
    PartialResponseError,
    ToolsRejectedError,
    redact,
)
from ..core.records import Usage
from ..core.results import ModelResponse, ToolCall

SETUP_HINT = (
    "no model endpoint configured: set OPENAI_API_KEY for OpenAI, or OPENAI_BASE_URL "
    "for any OpenAI-compatible server (e.g. http://localhost:11434/v1 for Ollama)"
)
# Servers that need no key still get a bearer token; this is what they receive.
NO_KEY = "no-key"
# Every request says why it was made ("chat", "memory" or "summary") in this
# header: a gateway or a log can tell the memory manager's and the summary
# folds' calls from a person's; servers ignore headers they do not know.
PURPOSE_HEADER = "X-Agentcli-Purpose"


class _StreamCut(Exception):
    """The stream ended without a finish reason: the connection closed early."""


class OpenAIChat:
    """An OpenAI-compatible chat model: ``OpenAIChat(id="gpt-4o-mini")``.

    ``base_url`` and ``api_key`` default to ``OPENAI_BASE_URL`` and
    ``OPENAI_API_KEY``; a base URL without a key works for local servers.
    """

    def __init__(
        self,
        id: str = "gpt-4o-mini",
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_attempts: int = 4,
        max_retry_seconds: float = 30.0,
        retry_delay: float = 0.5,
        stream: bool = True,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ):
        self.id = id
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        self._api_key = api_key or os.environ.get("OPENAI_API_KEY") or None
        self.timeout = timeout
        self.max_attempts = max(1, max_attempts)
        self.max_retry_seconds = max_retry_seconds
        self.retry_delay = retry_delay
        self.stream = stream
        self.temperature = temperature
        self.max_tokens = max_tokens
        self._client: Any = None

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAIChat(id={self.id!r}, base_url={self.base_url!r})"

    def variant(
        self,
        *,
        id: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> OpenAIChat:
        """The same endpoint with another model name or sampling settings (``None``:
        as this one); it shares this model's HTTP client and its connections."""
        other = copy.copy(self)
        other.id = id or self.id
        if temperature is not None:
            other.temperature = temperature
        if max_tokens is not None:
            other.max_tokens = max_tokens
        if self._client is None:  # made now, so that both share one
            self.client()
            other._client = self._client
        return other

    @property
    def endpoint(self) -> str:
        return self.base_url or "https://api.openai.com/v1"

    def check_configured(self) -> None:
        if not self.base_url and not self._api_key:
            raise ConfigError(SETUP_HINT)

    def client(self) -> Any:
        if self._client is None:
            self.check_configured()
            from openai import OpenAI

            options: dict[str, Any] = {}
            if urlsplit(self.endpoint).scheme.lower() == "http":
                options["http_client"] = _plain_http_client()
            self._client = OpenAI(
                api_key=self._api_key or NO_KEY,
                base_url=self.base_url,
                timeout=self.timeout,
                max_retries=0,
                **options,
            )
        return self._client

    # -- calling -----------------------------------------------------------
    def complete(
        self,
        messages: list[dict[str, Any]],
        *,
        tools: list[dict[str, Any]] | None = None,
        on_text: Callable[[str], None] | None = None,
        stream: bool | None = None,
        purpose: str = "chat",
    ) -> ModelResponse:
        """One model call, retried on transient failures before any text arrived.

        ``purpose`` (chat, memory or summary) says why the services call; it
        travels in the ``X-Agentcli-Purpose`` header, the body is the same."""
        import openai

        stream = self.stream if stream is None else stream
        deadline = time.monotonic() + self.max_retry_seconds
        attempt = 0
        while True:
            attempt += 1
            emitted: list[str] = []
            forward = _collector(emitted, on_text)
            try:
                if stream:
                    return self._stream(messages, tools, forward, purpose)
                return self._once(messages, tools, purpose)
            except openai.APIStatusError as exc:
                transient = exc.status_code == 429 or exc.status_code >= 500
                cause = f"HTTP {exc.status_code} {_status_text(exc)}"
                delay = _retry_after(exc)
                if tools and exc.status_code == 400 and "tool" in cause.lower():
                    raise ToolsRejectedError(self._fail(cause, attempt, []).args[0]) from None
            except _StreamCut:
                transient = True
                cause = "the connection closed before the reply was complete"
                delay = None
            except openai.APITimeoutError:
                raise self._fail(f"no answer within {self.timeout:g} s", attempt, emitted) from None
            except openai.APIConnectionError as exc:
                transient = True
                cause = _connection_cause(exc)
                delay = None
            except ModelError:
                raise
            except openai.OpenAIError as exc:
                raise self._fail(f"{type(exc).__name__}: {exc}", attempt, emitted) from None
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise self._fail(
                    f"malformed response ({type(exc).__name__})", attempt, emitted
                ) from None
            if emitted or not transient or attempt >= self.max_attempts:
                raise self._fail(cause, attempt, emitted)
            if delay is None:
                delay = self.retry_delay * (2 ** (attempt - 1)) * (0.8 + 0.4 * random.random())
            if time.monotonic() + delay > deadline:
                raise self._fail(cause, attempt, emitted)
            time.sleep(delay)

    def _fail(self, cause: str, attempts: int, emitted: list[str]) -> ModelError:
        tries = f" (after {attempts} attempts)" if attempts > 1 else ""
        text = redact(f"model call to {self.endpoint} failed: {cause}{tries}", self._api_key)
        if emitted:
            return PartialResponseError(text, "".join(emitted))
        return ModelError(text)

    def _request(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"model": self.id, "messages": messages}
        if tools:
            kwargs["tools"] = tools
        if self.temperature is not None:
            kwargs["temperature"] = self.temperature
        if self.max_tokens is not None:
            kwargs["max_tokens"] = self.max_tokens
        return kwargs

    def _post(self, body: dict[str, Any], *, purpose: str, stream: bool = True) -> Any:
        """POST /chat/completions with a body that is plain JSON already.

        The same call as ``chat.completions.create`` without its per-call
        conversion of typed parameters, which walks every message and costs
        milliseconds per call once a history is in the context. A whole
        (unstreamed) answer comes back as the decoded JSON (``cast_to=object``):
        building the SDK's typed ``ChatCompletion`` from it costs more than the
        rest of reading it, for the few fields used here.
        """
        from openai import Stream
        from openai.types.chat import ChatCompletionChunk

        return self.client().post(
            "/chat/completions",
            body=body,
            cast_to=object,
            options={"headers": {PURPOSE_HEADER: purpose}},
            stream=stream,
            stream_cls=Stream[ChatCompletionChunk],
        )

    def _once(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None, purpose: str
    ) -> ModelResponse:
        resp = _fields(self._post(self._request(messages, tools), purpose=purpose, stream=False))
        if not getattr(resp, "choices", None):
            raise ModelError(f"model call to {self.endpoint} failed: the response has no choices")
        choice = resp.choices[0]
        message = choice.message
        fields = vars(message)  # a message that is not an object is malformed
        calls = [
            ToolCall(
                vars(c).get("id") or f"call_{i}",
                vars(c.function).get("name") or "",
                vars(c.function).get("arguments") or "",
            )
            for i, c in enumerate(fields.get("tool_calls") or [])
            if getattr(c, "function", None) is not None
        ]
        return ModelResponse(
            content=fields.get("content") or "",
            tool_calls=calls,
            usage=_usage(getattr(resp, "usage", None)),
            finish_reason=getattr(choice, "finish_reason", None),
            model=getattr(resp, "model", None) or self.id,
        )

    def _stream(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None,
        forward: Callable[[str], None],
        purpose: str,
    ) -> ModelResponse:
        request = self._request(messages, tools)
        body = {**request, "stream": True, "stream_options": {"include_usage": True}}
        stream = self._post(body, purpose=purpose)
        parts: list[str] = []
        slots: dict[int, dict[str, str]] = {}
        usage = Usage(calls=1)  # a server that reports no usage still answered one call
        finish = model = None
        chunks = choices = 0
        try:
            for chunk in stream:
                chunks += 1
                model = getattr(chunk, "model", None) or model
                if getattr(chunk, "usage", None):
                    usage = _usage(chunk.usage)
                for choice in getattr(chunk, "choices", None) or []:
                    choices += 1
                    delta = getattr(choice, "delta", None)
                    if delta is not None:
                        if delta.content:
                            parts.append(delta.content)
                            forward(delta.content)
                        for frag in getattr(delta, "tool_calls", None) or []:
                            _merge_fragment(slots, frag)
                    if choice.finish_reason:
                        finish = choice.finish_reason
        finally:
            stream.close()
        if chunks and not choices:
            raise ModelError(f"model call to {self.endpoint} failed: the response has no choices")
        if finish is None:
            # Every complete answer ends with a finish reason; a server that
            # closes the connection mid-stream must not pass for a short reply.
            raise _StreamCut()
        calls = [
            ToolCall(s["id"] or f"call_{i}", s["name"], s["arguments"])
            for i, s in sorted(slots.items())
        ]
        return ModelResponse("".join(parts), calls, usage, finish, model or self.id)


def _plain_http_client() -> Any:
    """An HTTP client for an ``http://`` endpoint (a local or LAN server).

    The SDK's default client loads the system's certificate store up front, most
    of a warm call's CPU (about 0.1 s), which plain HTTP never uses. This one's
    TLS context trusts no certificate at all: a redirect to ``https://`` fails
    its verification (closed), it is never followed unverified.
    """
    import ssl

    from openai import DefaultHttpxClient

    class PlainHttpClient(DefaultHttpxClient):
        def __del__(self) -> None:  # pooled connections close with it, as the SDK's do
            try:
                self.close()
            except Exception:
                pass

    return PlainHttpClient(verify=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))


def _fields(data: Any) -> Any:
    """Decoded JSON with objects read as attributes, like the SDK's types: a
    missing field is an ``AttributeError``, anything that is not an object has
    no fields."""
    if isinstance(data, dict):
        return SimpleNamespace(**{str(k): _fields(v) for k, v in data.items()})
    if isinstance(data, list):
        return [_fields(v) for v in data]
    return data


def _collector(sink: list[str], on_text: Callable[[str], None] | None) -> Callable[[str], None]:
    def forward(text: str) -> None:
        sink.append(text)
        if on_text is not None:
            on_text(text)

    return forward


def _merge_fragment(slots: dict[int, dict[str, str]], frag: Any) -> None:
    index = getattr(frag, "index", None)
    index = len(slots) if index is None else index
    slot = slots.setdefault(index, {"id": "", "name": "", "arguments": ""})
    if getattr(frag, "id", None):
        slot["id"] = frag.id
    function = getattr(frag, "function", None)
    if function is not None:
        if function.name:
            slot["name"] = function.name
        if function.arguments:
            slot["arguments"] += function.arguments


def _usage(raw: Any) -> Usage:
    if raw is None:
        return Usage(calls=1)
    return Usage(
        int(getattr(raw, "prompt_tokens", 0) or 0),
        int(getattr(raw, "completion_tokens", 0) or 0),
        1,
    )


def _status_text(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        detail = body.get("error", body)
        if isinstance(detail, dict) and detail.get("message"):
            return str(detail["message"]).splitlines()[0][:200]
    try:
        return exc.response.reason_phrase or ""
    except Exception:
        return ""


def _connection_cause(exc: Any) -> str:
    cause = exc.__cause__ or exc.__context__
    if cause is not None and str(cause):
        return f"connection error ({str(cause).splitlines()[0][:200]})"
    return "connection error"


def _retry_after(exc: Any) -> float | None:
    try:
        headers = exc.response.headers
    except Exception:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value:
            try:
                return min(max(float(value) * scale, 0.0), 20.0)
            except ValueError:
                return None
    return None
