"""Reading a store's tables directly, whichever backend: for tests that check rows."""

from __future__ import annotations

import sqlite3
from typing import Any

PG_SCHEMA = "agentcli_test"


def is_pg(target: str) -> bool:
    return target.startswith(("postgresql://", "postgres://"))


def query(target: str, sql: str) -> list[tuple[Any, ...]]:
    """The rows of ``sql`` (no parameters) in the store at ``target``."""
    if is_pg(target):
        import psycopg

        with psycopg.connect(target) as conn:
            conn.execute(f"SET search_path TO {PG_SCHEMA}")
            return [tuple(r) for r in conn.execute(sql.encode()).fetchall()]
    conn = sqlite3.connect(target)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def script(target: str, sql: str) -> None:
    """Run statements (a test's own triggers and tables) in the store at ``target``."""
    if is_pg(target):
        import psycopg

        with psycopg.connect(target, autocommit=True) as conn:
            conn.execute(f"SET search_path TO {PG_SCHEMA}")
            conn.execute(sql.encode())
        return
    conn = sqlite3.connect(target)
    try:
        conn.executescript(sql)
    finally:
        conn.close()
