"""The only package that speaks SQL: schema, migrations and queries, returning records."""

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
from .db import Database, utcnow
from .memories import MemoryQueries
from .schema import MIGRATIONS, SCHEMA_VERSION
from .sessions import SessionQueries, fts_query
from .summaries import SummaryQueries


class SqliteDb(SessionQueries, MemoryQueries, SummaryQueries, Database):
    """The agentcli database: ``SqliteDb("chat.db")`` or ``SqliteDb(":memory:")``."""


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
    "Usage",
    "fts_query",
    "utcnow",
]
