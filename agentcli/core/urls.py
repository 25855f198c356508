"""What makes a model endpoint's base URL usable, checked before any request."""

from __future__ import annotations

from urllib.parse import urlsplit


def endpoint_problem(url: str) -> str | None:
    """Why ``url`` cannot be a Chat Completions base URL, or ``None`` when it can:
    it needs the scheme ``http`` or ``https`` and a host (a port, when given, in range)."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as exc:
        return f"it cannot be read as a URL ({exc})"
    if parts.scheme.lower() not in ("http", "https"):
        return "it needs http:// or https:// and a host"
    if not parts.hostname:
        return "it names no host"
    if any(c.isspace() or ord(c) < 32 for c in url.strip()):
        return "it holds spaces or control characters"
    return None


def shown_endpoint(url: str) -> str:
    """``url`` for a message: a password in it replaced by ``***``, cut when very long."""
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    text = url.replace(password, "***") if password else url
    return repr(text if len(text) <= 80 else text[:77] + "...")
