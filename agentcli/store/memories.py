"""Queries on user memories and their event log."""

from __future__ import annotations

from .db import Database


class MemoryQueries(Database):
    pass
