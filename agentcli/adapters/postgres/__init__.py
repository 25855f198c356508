"""The PostgreSQL store: schema, migrations and queries on psycopg 3, returning records.

Imported only when a PostgreSQL URL is used: ``agentcli`` commands on a SQLite
file never load psycopg.
"""

from __future__ import annotations

from .archive import ArchiveQueries
from .db import DEFAULT_SCHEMA, ConnectionLost, Database, utcnow
from .memories import MemoryQueries
from .schema import MIGRATIONS, SCHEMA_VERSION
from .sessions import SessionQueries
from .summaries import SummaryQueries


class PostgresDb(SessionQueries, MemoryQueries, SummaryQueries, ArchiveQueries, Database):
    """The agentcli database on a PostgreSQL server:
    ``PostgresDb(db_url="postgresql://user:pass@host:5432/dbname")``."""


__all__ = [
    "DEFAULT_SCHEMA",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "ConnectionLost",
    "Database",
    "PostgresDb",
    "utcnow",
]
