"""Database targets: a file path (SQLite) or a PostgreSQL URL, and how to show one safely.

Accepted URL forms (the same meaning): ``postgresql://``, ``postgres://`` and the
SQLAlchemy-style ``postgresql+psycopg://``. A Unix socket is named the libpq
way, ``postgresql:///dbname?host=/run/postgresql``. Nothing here imports a
driver: deciding which backend a target names costs no start-up time.
"""

from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

# Schemes naming a PostgreSQL server, and the one libpq understands.
POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")
LIBPQ_SCHEME = "postgresql"
DEFAULT_PORT = 5432
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# Query parameters that carry a secret.
_SECRET_PARAMS = frozenset({"password", "sslpassword"})


class PostgresTarget(NamedTuple):
    """A PostgreSQL URL taken apart: what to connect with and what may be shown."""

    conninfo: str
    """The URL as libpq reads it (``postgresql://``), password included: never shown."""
    shown: str
    """The URL with its password as ``***``: for messages and ``config show``."""
    host: str
    """The host name, address or socket directory (libpq's default when not given)."""
    port: int
    dbname: str | None
    user: str | None
    password: str | None

    @property
    def where(self) -> str:
        """``host:port``, or the socket directory and port, for a message."""
        if self.host.startswith("/"):
            return f"socket {self.host} port {self.port}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def is_postgres_url(target: object) -> bool:
    """Whether ``target`` is a PostgreSQL URL (rather than a file path)."""
    if not isinstance(target, str):
        return False
    found = _SCHEME.match(target.strip())
    return found is not None and found.group(1).lower() in POSTGRES_SCHEMES


def looks_like_url(target: str) -> bool:
    """Whether ``target`` has a URL scheme (``name://``), whichever it is."""
    return bool(_SCHEME.match(target.strip()))


def parse_postgres_url(url: str) -> PostgresTarget:
    """Take a PostgreSQL URL apart; raises ``ValueError`` (without the password) if malformed."""
    url = url.strip()
    found = _SCHEME.match(url)
    if not found or found.group(1).lower() not in POSTGRES_SCHEMES:
        raise ValueError(f"not a PostgreSQL URL: {redact_url(url)}")
    rest = url[found.end() :]
    conninfo = f"{LIBPQ_SCHEME}://{rest}"
    try:
        parts = urlsplit(conninfo)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        port_text = query.get("port") or (parts.port and str(parts.port)) or ""
    except ValueError:
        raise ValueError(f"malformed PostgreSQL URL: {redact_url(url)}") from None
    if parts.fragment:
        raise ValueError(f"malformed PostgreSQL URL (a '#' must be written %23): {redact_url(url)}")
    host = query.get("host") or unquote(parts.hostname or "") or "localhost"
    try:
        port = int(port_text.split(",")[0]) if port_text else DEFAULT_PORT
    except ValueError:
        raise ValueError(f"malformed port in PostgreSQL URL: {redact_url(url)}") from None
    dbname = query.get("dbname") or unquote(parts.path.lstrip("/")) or None
    user = query.get("user") or (unquote(parts.username) if parts.username else None)
    password = query.get("password") or (unquote(parts.password) if parts.password else None)
    return PostgresTarget(conninfo, redact_url(url), host, port, dbname, user, password)


def redact_url(url: str) -> str:
    """``url`` with any password (in the authority or the query) replaced by ``***``."""
    found = _SCHEME.match(url)
    if not found:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        # Unparseable: drop everything between "//" and the last "@".
        head, _, tail = url[found.end() :].rpartition("@")
        return url[: found.end()] + ("***@" if head else "") + tail
    netloc = parts.netloc
    userinfo, at, hostport = netloc.rpartition("@")
    if at and ":" in userinfo:
        name = userinfo.split(":", 1)[0]
        netloc = f"{name}:***@{hostport}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(key in _SECRET_PARAMS for key, _ in pairs):
            query = "&".join(
                f"{quote(key)}={'***' if key in _SECRET_PARAMS else quote(value, safe='/,:')}"
                for key, value in pairs
            )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def shown_target(target: str) -> str:
    """A database target as it may be shown: a path as is, a URL without its password."""
    return redact_url(target) if looks_like_url(target) else target
