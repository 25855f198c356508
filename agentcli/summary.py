"""Rolling session summaries of the runs that left the history window."""

from __future__ import annotations


class Summarizer:
    """Placeholder until session summaries land: plain history window."""

    def __init__(self, db, *, model, batch_runs: int):
        self.db = db

    def window(self, session, num_history_runs: int):
        return None, None, num_history_runs

    def after_run(self, follow) -> None:
        return None
