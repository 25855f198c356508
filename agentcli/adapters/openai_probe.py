"""Asking an OpenAI-compatible server about itself: its models and context window.

Servers say how large their context window is in different places:

* llama.cpp's ``llama-server``: ``GET /props`` (beside ``/v1``), field
  ``default_generation_settings.n_ctx`` (the window of one slot);
* vLLM: ``max_model_len`` of the model in ``GET /v1/models``; others
  (OpenRouter, LM Studio, some proxies) ``context_length``,
  ``max_context_length`` or ``loaded_context_length`` there;
* Ollama: ``POST /api/show``, the model's ``num_ctx`` parameter, else Ollama's
  own default of 4096 for OpenAI-compatible requests, never more than the
  model's ``*.context_length``.

Each probe is a short GET or POST; a server that has none of them answers
404 at once. :func:`context_window` tries them in that order.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol


class OpenAIChat(Protocol):
    """What a probe needs of the model client (``openai_chat.OpenAIChat``)."""

    id: str

    @property
    def endpoint(self) -> str: ...

    def client(self) -> Any: ...


PROBE_TIMEOUT = 5.0
OLLAMA_DEFAULT_CTX = 4096
_MODEL_WINDOW_KEYS = (
    "max_model_len",
    "loaded_context_length",
    "context_length",
    "context_window",
    "max_context_length",
    "n_ctx",
)


class Found(NamedTuple):
    """A context window and where it was read."""

    tokens: int
    source: str


def server_root(endpoint: str) -> str:
    """The server's address without the API path: ``http://h:8080/v1`` -> ``http://h:8080``."""
    base = endpoint.rstrip("/")
    for suffix in ("/v1", "/api/v1", "/openai/v1"):
        if base.endswith(suffix):
            return base[: -len(suffix)]
    return base


def get_json(chat: OpenAIChat, url: str, body: Any = None, timeout: float = PROBE_TIMEOUT) -> Any:
    """GET (or POST ``body`` to) ``url`` with the client's key; the decoded JSON or ``None``."""
    import openai

    try:
        options: Any = {"timeout": timeout}
        if body is None:
            return chat.client().get(url, cast_to=object, options=options)
        return chat.client().post(url, body=body, cast_to=object, options=options)
    except (openai.OpenAIError, ValueError):
        return None


def list_models(chat: OpenAIChat) -> list[dict[str, Any]] | None:
    """The entries of ``GET /models``, or ``None`` when the server does not answer it."""
    found = model_entries(get_json(chat, "/models"))
    seen = getattr(chat, "models_seen", None)
    if found is not None and callable(seen):  # e.g. kept for tab completion
        seen([str(m.get("id") or m.get("name")) for m in found if m.get("id") or m.get("name")])
    return found


def model_entries(data: Any) -> list[dict[str, Any]] | None:
    """The model entries of a ``GET /models`` answer, or ``None`` when it has none."""
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        return [m for m in data["data"] if isinstance(m, dict)]
    if isinstance(data, dict) and isinstance(data.get("models"), list):  # some proxies
        return [m for m in data["models"] if isinstance(m, dict)]
    return None


def context_window(chat: OpenAIChat) -> Found | None:
    """The context window the server reports for ``chat.id``, or ``None``."""
    root = server_root(chat.endpoint)
    props = get_json(chat, f"{root}/props")
    if isinstance(props, dict):
        settings = props.get("default_generation_settings")
        n_ctx = _positive(settings.get("n_ctx")) if isinstance(settings, dict) else None
        n_ctx = n_ctx or _positive(props.get("n_ctx"))
        if n_ctx:
            return Found(n_ctx, "llama.cpp /props")
    models = list_models(chat) or []
    entry = _entry(models, chat.id)
    if entry is not None:
        for key in _MODEL_WINDOW_KEYS:
            tokens = _positive(entry.get(key))
            if tokens:
                return Found(tokens, f"/models {key}")
    shown = get_json(chat, f"{root}/api/show", body={"model": chat.id})
    if isinstance(shown, dict) and ("model_info" in shown or "parameters" in shown):
        return _ollama(shown)
    return None


def _ollama(shown: dict[str, Any]) -> Found | None:
    trained = None
    info = shown.get("model_info")
    if isinstance(info, dict):
        for key, value in info.items():
            if key.endswith(".context_length"):
                trained = _positive(value)
    num_ctx = None
    for line in str(shown.get("parameters") or "").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "num_ctx":
            num_ctx = _positive(parts[1])
    tokens = num_ctx or OLLAMA_DEFAULT_CTX
    if trained:
        tokens = min(tokens, trained)
    return Found(tokens, "ollama /api/show")


def _entry(models: list[dict[str, Any]], model_id: str) -> dict[str, Any] | None:
    for model in models:
        if model.get("id") == model_id or model.get("name") == model_id:
            return model
    return models[0] if len(models) == 1 else None  # a server with one model serves any name


def _positive(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None
