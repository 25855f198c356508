"""The only package that speaks SQL: the SQLite store, its schema, migrations and
queries, returning the core's records.

``db`` is the handle (connections, transactions, tracer, errors), ``store``
the ``SqliteDb`` class, and ``sessions``, ``memories`` and ``summaries`` the
queries, as functions of a connection.
"""

from __future__ import annotations

from ...core.records import (
    Memory,
    MemoryEvent,
    Message,
    Run,
    SearchHit,
    Session,
    SummaryState,
    Usage,
)
from .db import Database, Tracer, fts_query, utcnow
from .schema import MIGRATIONS, SCHEMA_VERSION
from .store import SqliteDb

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "Database",
    "Memory",
    "MemoryEvent",
    "Message",
    "Run",
    "SearchHit",
    "Session",
    "SqliteDb",
    "SummaryState",
    "Tracer",
    "Usage",
    "fts_query",
    "utcnow",
]
