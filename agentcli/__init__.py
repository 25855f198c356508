"""agentcli: a command-line chat tool whose agent remembers."""

from __future__ import annotations

__version__ = "0.1.0"

from .agent import Agent, RunResult  # noqa: E402
from .errors import AgentCliError  # noqa: E402
from .model import OpenAIChat  # noqa: E402
from .store import SqliteDb  # noqa: E402

__all__ = ["Agent", "AgentCliError", "OpenAIChat", "RunResult", "SqliteDb", "__version__"]
