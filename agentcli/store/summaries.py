"""Queries on rolling session summaries."""

from __future__ import annotations

from .db import Database


class SummaryQueries(Database):
    pass
