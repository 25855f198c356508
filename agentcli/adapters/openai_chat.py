"""The model client: Chat Completions through the ``openai`` SDK.

Streams or not, assembles streamed tool-call fragments, records token usage
and retries transient failures with backoff inside a bounded total time. The
``openai`` package is imported on first use only: it costs most of a second.
"""

from __future__ import annotations

import copy
import json
import os
import random
import threading
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

from ..core.errors import (
    ConfigError,
    ContextLengthError,
    ModelError,
    PartialResponseError,
    ToolsRejectedError,
    redact,
)
from ..core.notes import (
    CONTEXT_WINDOW,
    MAX_TOKENS_PARAM,
    STREAM_TOOLS,
    TOKEN_RATIO,
    TOOLS_REJECTED,
    USAGE_IN_STREAM,
    Notes,
)
from ..core.records import Usage
from ..core.results import ModelResponse, ToolCall
from ..core.text import estimate_message_tokens, estimate_tokens
from .openai_errors import (
    context_overflow,
    error_text,
    max_tokens_renamed,
    retryable,
    streamed_tools_refused,
    tools_refused,
)

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


class _Stalled(Exception):
    """The watchdog gave up on a streamed answer ("first": no token in time; "stall")."""


# Seconds a token may take in a whole (non-streamed) answer, on top of the
# timeout: nothing arrives until the last token, so a CPU server writing
# ``max_tokens`` tokens at a few a second must still be waited for.
WHOLE_ANSWER_SECONDS_PER_TOKEN = 0.25
# When nothing says what the OpenAI API's models take: their smallest window today.
OPENAI_CONTEXT_WINDOW = 128_000
# How often the watchdog looks at the time (seconds): how late it may act.
WATCHDOG_TICK = 0.1
# How long a context window read from a server is trusted before asking again.
WINDOW_NOTE_SECONDS = 24 * 3600


class OpenAIChat:
    """An OpenAI-compatible chat model: ``OpenAIChat(id="gpt-4o-mini")``.

    ``base_url`` and ``api_key`` default to ``OPENAI_BASE_URL`` and
    ``OPENAI_API_KEY``; a base URL without a key works for local servers.

    ``timeout`` bounds connecting and the wait for the first token (and any
    silence on the connection); ``stall_timeout`` the wait between two pieces
    of a streamed reply, however many keep-alive comments arrive meanwhile.
    ``max_tokens`` is the cap sent when a call gives none. ``notes`` keep what
    was learned about this endpoint and model (see :mod:`agentcli.core.notes`).
    """

    def __init__(
        self,
        id: str = "gpt-4o-mini",
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
        stall_timeout: float = 30.0,
        max_attempts: int = 4,
        max_retry_seconds: float = 30.0,
        retry_delay: float = 0.5,
        stream: bool = True,
        temperature: float | None = None,
        max_tokens: int | None = None,
        notes: Notes | None = None,
        vision: bool = False,
        options: dict[str, Any] | None = None,
    ):
        self.id = id
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        self._api_key = api_key or os.environ.get("OPENAI_API_KEY") or None
        self.timeout = timeout
        self.stall_timeout = stall_timeout
        self.max_attempts = max(1, max_attempts)
        self.max_retry_seconds = max_retry_seconds
        self.retry_delay = retry_delay
        self.stream = stream
        self.temperature = temperature
        self.max_tokens = max_tokens
        # Generation options (temperature, top_p, seed, any other body field) sent
        # with a person's runs only: memory-manager calls and folds keep their own.
        self.options = dict(options or {})
        self.notes = notes if notes is not None else Notes()
        # Whether the model takes images (image_url content parts) in a message.
        self.vision = vision
        # Called with the model names whenever the server lists its models.
        self.models_seen: Callable[[list[str]], None] | None = None
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
        if other.id != self.id:  # what is known of one model is not known of another
            other.notes = self.notes.scoped(other.note_scope)
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

    @property
    def note_scope(self) -> str:
        """What notes about this client are kept under: its endpoint and model."""
        return f"{self.endpoint.rstrip('/')} {self.id}"

    def check_configured(self) -> None:
        if not self.base_url and not self._api_key:
            raise ConfigError(SETUP_HINT)
        if self.base_url:  # a URL no request can reach is no reason to retry
            from ..core.urls import endpoint_problem, shown_endpoint

            problem = endpoint_problem(self.base_url)
            if problem:
                raise ConfigError(
                    f"base url {shown_endpoint(self.base_url)} is not an endpoint: {problem}"
                )

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

    # -- what the server says about itself -----------------------------------------
    def context_window(self) -> int | None:
        """The model's context window in tokens, as the server reports it (cached in
        the notes for a day), or ``None`` when it does not say."""
        return self.context_window_info()[0]

    def context_window_info(self, *, fresh: bool = False) -> tuple[int | None, str]:
        """(tokens or ``None``, where that came from)."""
        noted = self.notes.get(CONTEXT_WINDOW)
        if (
            not fresh
            and isinstance(noted, dict)
            and time.time() - float(noted.get("at") or 0) < WINDOW_NOTE_SECONDS
        ):
            return noted.get("tokens"), str(noted.get("source") or "noted")
        from .openai_probe import context_window

        if urlsplit(self.endpoint).hostname == "api.openai.com":  # it reports none
            tokens, source = OPENAI_CONTEXT_WINDOW, "OpenAI default"
        elif (found := context_window(self)) is not None:
            tokens, source = found
        else:
            tokens, source = None, "not reported"
        self.notes.set(CONTEXT_WINDOW, {"tokens": tokens, "source": source, "at": int(time.time())})
        return tokens, source

    def list_models(self) -> list[dict[str, Any]] | None:
        """The server's ``GET /models`` entries, or ``None`` when it does not answer."""
        from .openai_probe import list_models

        return list_models(self)

    def models(self) -> list[dict[str, Any]]:
        """The server's ``GET /models`` entries (``agentcli models``), asked once.

        Raises :class:`ModelError`, one line naming the cause, when the server
        cannot be reached or does not list its models."""
        import openai

        from .openai_probe import PROBE_TIMEOUT, model_entries

        failed = f"listing the models of {self.endpoint} failed"
        try:
            data = self.client().get(
                "/models", cast_to=object, options={"timeout": max(self.timeout, PROBE_TIMEOUT)}
            )
        except openai.APIStatusError as exc:
            cause = f"HTTP {exc.status_code} {_status_text(exc)}".rstrip()
            if exc.status_code == 404:
                cause += self._v1_hint()
            raise ModelError(redact(f"{failed}: {cause}", self._api_key)) from None
        except openai.APITimeoutError:
            raise ModelError(f"{failed}: no answer within {self.timeout:g} s") from None
        except openai.APIConnectionError as exc:
            raise ModelError(redact(f"{failed}: {_connection_cause(exc)}", self._api_key)) from None
        entries = model_entries(data)
        if entries is None:
            raise ModelError(f"{failed}: the answer holds no list of models")
        if self.models_seen is not None:
            self.models_seen(model_ids(entries))
        return entries

    # -- calling -----------------------------------------------------------
    def complete(
        self,
        messages: list[dict[str, Any]],
        *,
        tools: list[dict[str, Any]] | None = None,
        on_text: Callable[[str], None] | None = None,
        stream: bool | None = None,
        purpose: str = "chat",
        max_tokens: int | None = None,
    ) -> ModelResponse:
        """One model call, retried on transient failures before any text arrived.

        ``purpose`` (chat, memory or summary) says why the services call; it
        travels in the ``X-Agentcli-Purpose`` header, the body is the same.
        ``max_tokens`` caps the reply (with the client's own cap, the lower)."""
        import openai

        stream = self.stream if stream is None else stream
        if tools and stream and self.notes.recent(STREAM_TOOLS) is False:
            stream = False
        # The call's cap and the client's own (a variant's), whichever is lower.
        caps = [c for c in (max_tokens, self.max_tokens) if c is not None]
        cap = min(caps) if caps else None
        notices: list[str] = []
        deadline = time.monotonic() + self.max_retry_seconds
        attempt = server_errors = 0
        while True:
            attempt += 1
            emitted: list[str] = []
            forward = _collector(emitted, on_text)
            delay: float | None = None
            try:
                if stream:
                    response = self._stream(messages, tools, forward, cap, purpose)
                else:
                    response = self._once(messages, tools, cap, purpose)
                response.notices.extend(notices)
                if not stream and response.content:
                    forward(response.content)  # a whole answer: all its text at once
                if tools and self.notes.get(TOOLS_REJECTED):
                    self.notes.set(TOOLS_REJECTED, None)  # the server takes tools again
                return self._counted(response, messages, tools, stream)
            except openai.APIStatusError as exc:
                status = exc.status_code
                detail = _status_text(exc)
                cause = f"HTTP {status} {detail}".rstrip()
                self._refusal(status, detail, exc.body, cause, tools, attempt, emitted, messages)
                if tools and stream and streamed_tools_refused(detail):
                    stream = self._unstream_tools(notices)
                    continue
                if cap and max_tokens_renamed(detail) and not self.notes.get(MAX_TOKENS_PARAM):
                    self.notes.set(MAX_TOKENS_PARAM, "max_completion_tokens")
                    continue
                if status == 404:
                    cause += self._v1_hint()
                server_errors += status == 500
                transient = retryable(status, detail, server_errors)
                delay = _retry_after(exc)
            except _Stalled as exc:
                raise self._fail(self._stall_cause(str(exc)), attempt, emitted) from None
            except _StreamCut:
                transient = True
                cause = "the connection closed before the reply was complete"
                if tools and stream and not emitted:
                    # Some servers (llama-cpp-python) drop a stream they cannot
                    # make with tools: the next attempt asks for a whole answer.
                    stream = False
                    if self.notes.increment("stream_tools_cuts") >= 2:
                        self._unstream_tools(notices)
            except openai.APITimeoutError:
                if emitted:
                    raise self._fail(self._stall_cause("stall"), attempt, emitted) from None
                raise self._fail(f"no answer within {self.timeout:g} s", attempt, emitted) from None
            except openai.APIConnectionError as exc:
                transient = True
                cause = _connection_cause(exc)
            except openai.APIError as exc:
                # An error event inside a stream: the request is refused as it is.
                detail = error_text(exc.body, str(exc.message or exc))
                self._refusal(None, detail, exc.body, detail, tools, attempt, emitted, messages)
                if tools and stream and not emitted and streamed_tools_refused(detail):
                    stream = self._unstream_tools(notices)
                    continue
                cause = f"the server reported an error: {detail}"
                raise self._fail(cause, attempt, emitted) from None
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

    def _refusal(
        self,
        status: int | None,
        detail: str,
        body: Any,
        cause: str,
        tools: list[dict[str, Any]] | None,
        attempt: int,
        emitted: list[str],
        messages: list[dict[str, Any]],
    ) -> None:
        """Raise at once for a refusal that would only repeat: the request does not fit
        the context window, or the server does not take tools."""
        overflow = context_overflow(detail, body)
        if overflow is not None:
            self._learn_overflow(overflow, messages, tools)
            text = self._fail(
                f"the request is larger than the model's context window ({cause})", attempt, []
            ).args[0]
            if emitted:
                raise PartialResponseError(text, "".join(emitted))
            raise ContextLengthError(text, overflow.window, overflow.request)
        if tools and not emitted and tools_refused(status or 400, detail):
            self.notes.stamp(TOOLS_REJECTED, cause)
            raise ToolsRejectedError(self._fail(cause, attempt, []).args[0])

    def _learn_overflow(
        self, overflow: Any, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None
    ) -> None:
        """Keep what a context-length refusal tells: the window, and how far the
        server's count ran above our estimate, so the next request fits."""
        if overflow.window:
            self.notes.set(
                CONTEXT_WINDOW,
                {"tokens": overflow.window, "source": "server error", "at": int(time.time())},
            )
        ratio = float(self.notes.get(TOKEN_RATIO) or 1.0)
        estimate = self.estimate_input(messages, tools)
        if overflow.request and estimate:
            ratio = max(ratio, overflow.request / estimate * 1.1)
        elif not overflow.window:
            ratio *= 1.25  # nothing to go by: count a quarter higher from now on
        self.notes.set(TOKEN_RATIO, round(min(ratio, 8.0), 3))

    @staticmethod
    def estimate_input(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> int:
        """Our estimate of a request's prompt tokens (see ``core.text.estimate_tokens``)."""
        spec = estimate_tokens(json.dumps(tools)) if tools else 0
        return estimate_message_tokens(messages) + spec

    def _counted(
        self,
        response: ModelResponse,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None,
        streamed: bool,
    ) -> ModelResponse:
        """The response with usage estimated when the server sent none; otherwise
        its prompt count raises the token ratio when above our estimate."""
        usage = response.usage
        estimate = self.estimate_input(messages, tools)
        if usage.input_tokens == 0 and usage.output_tokens == 0:
            output = estimate_tokens(response.content) + sum(
                estimate_tokens(c.name) + estimate_tokens(c.arguments) for c in response.tool_calls
            )
            response.usage = Usage(estimate, output, 1, True)
            if streamed:
                self.notes.set(USAGE_IN_STREAM, False)
        elif estimate and usage.input_tokens > estimate:
            ratio = float(self.notes.get(TOKEN_RATIO) or 1.0)
            seen = usage.input_tokens / estimate
            if seen > ratio * 1.05:
                self.notes.set(TOKEN_RATIO, round(min(seen * 1.05, 8.0), 3))
        return response

    def _unstream_tools(self, notices: list[str]) -> bool:
        """From now on, answers that may call tools are asked for whole; says so once."""
        self.notes.stamp(STREAM_TOOLS, False)
        if self.notes.once("warned_stream_tools"):
            notices.append(
                "this server cannot stream answers that may call tools; "
                "those are asked for whole (not streamed) from now on"
            )
        return False

    def _stall_cause(self, which: str) -> str:
        if which == "first":
            return f"no answer within {self.timeout:g} s"
        return f"the reply stalled: nothing new for {min(self.stall_timeout, self.timeout):g} s"

    def _v1_hint(self) -> str:
        """A hint for a base URL missing ``/v1``, when ``<base>/v1/models`` answers."""
        from .openai_probe import get_json

        base = self.endpoint.rstrip("/")
        if base.endswith("/v1"):
            return ""
        found = get_json(self, f"{base}/v1/models", timeout=3.0)
        if isinstance(found, dict) and "data" in found:
            return f" (the server answers at {base}/v1: set OPENAI_BASE_URL to that)"
        return ""

    def _fail(self, cause: str, attempts: int, emitted: list[str]) -> ModelError:
        tries = f" (after {attempts} attempts)" if attempts > 1 else ""
        text = redact(f"model call to {self.endpoint} failed: {cause}{tries}", self._api_key)
        if emitted:
            return PartialResponseError(text, "".join(emitted))
        return ModelError(text)

    def _request(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None,
        cap: int | None,
        purpose: str = "chat",
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if purpose == "chat":
            kwargs.update(self.options)
        kwargs.update({"model": self.id, "messages": messages})
        if tools:
            kwargs["tools"] = tools
            # Some servers (llama-cpp-python) ignore tools unless asked to choose.
            kwargs["tool_choice"] = "auto"
        if cap:
            kwargs[self.notes.get(MAX_TOKENS_PARAM) or "max_tokens"] = cap
        if self.temperature is not None:
            kwargs["temperature"] = self.temperature
        return kwargs

    def _post(
        self, body: dict[str, Any], *, purpose: str, timeout: float, stream: bool = True
    ) -> Any:
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
            options={"headers": {PURPOSE_HEADER: purpose}, "timeout": timeout},
            stream=stream,
            stream_cls=Stream[ChatCompletionChunk],
        )

    def _once(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None,
        cap: int | None,
        purpose: str,
    ) -> ModelResponse:
        wait = self.timeout + (cap or 1024) * WHOLE_ANSWER_SECONDS_PER_TOKEN
        request = self._request(messages, tools, cap, purpose)
        resp = _fields(self._post(request, purpose=purpose, timeout=wait, stream=False))
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
        cap: int | None,
        purpose: str,
    ) -> ModelResponse:
        started = time.monotonic()
        request = self._request(messages, tools, cap, purpose)
        body = {**request, "stream": True, "stream_options": {"include_usage": True}}
        stream = self._post(body, purpose=purpose, timeout=self.timeout)
        watch = Watchdog(stream.response, started, self.timeout, self.stall_timeout)
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
                    watch.progress()
                    usage = _usage(chunk.usage)
                for choice in getattr(chunk, "choices", None) or []:
                    choices += 1
                    delta = getattr(choice, "delta", None)
                    if delta is not None:
                        if delta.content:
                            watch.progress()
                            parts.append(delta.content)
                            forward(delta.content)
                        for frag in getattr(delta, "tool_calls", None) or []:
                            watch.progress()
                            _merge_fragment(slots, frag)
                    if choice.finish_reason:
                        watch.progress()
                        finish = choice.finish_reason
        except Exception:
            if watch.fired and finish is None:
                raise _Stalled(watch.fired) from None
            if finish is None:
                raise
        finally:
            watch.stop()
            stream.close()
        if watch.fired and finish is None:
            raise _Stalled(watch.fired)
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


class Watchdog:
    """Ends a streamed answer that makes no progress.

    Progress is a piece of text or of a tool call, the finish reason or the
    token counts; SSE comments (``: ping``), empty chunks and keep-alives are
    not. Without a first piece ``first`` seconds after ``started``, or a next
    piece ``stall`` seconds after the last, it shuts the connection's socket:
    the blocked read ends at once, and the server learns that its client has
    gone (llama.cpp then stops generating).
    """

    def __init__(self, response: Any, started: float, first: float, stall: float):
        self._response = response
        self._started = started
        self._first = first
        self._stall = stall
        self._last: float | None = None
        self._done = threading.Event()
        self.fired: str | None = None
        self._thread = threading.Thread(target=self._watch, name="agentcli-watchdog", daemon=True)
        self._thread.start()

    def progress(self) -> None:
        self._last = time.monotonic()

    def stop(self) -> None:
        self._done.set()

    def _watch(self) -> None:
        while True:
            last = self._last
            if last is None:
                deadline = self._started + self._first
            else:
                deadline = last + min(self._stall, self._first)
            remaining = deadline - time.monotonic()
            if remaining <= 0 and self._last == last:
                break
            # Woken often rather than by every token: a token only moves the deadline.
            if self._done.wait(min(max(remaining, 0.0), WATCHDOG_TICK)):
                return
        self.fired = "first" if self._last is None else "stall"
        _cut(self._response)


def _cut(response: Any) -> None:
    """Shut down the socket under a streamed response (from another thread)."""
    import socket

    try:
        stream = response.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
    except Exception:
        sock = None
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
            return
        except OSError:
            pass
    try:
        response.close()
    except Exception:
        pass


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


def model_ids(entries: list[dict[str, Any]]) -> list[str]:
    """The names of ``GET /models`` entries (``id``, else ``name``)."""
    return [str(m.get("id") or m.get("name")) for m in entries if m.get("id") or m.get("name")]


def _status_text(exc: Any) -> str:
    text = error_text(getattr(exc, "body", None))
    if text:
        return text.splitlines()[0][:300]
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
