"""Adapters: implementations of the core's protocols on real things (the ``openai`` SDK,
SQLite). Each imports its driver on use, not at start-up."""
