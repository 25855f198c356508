"""agentcli: a command-line chat tool whose agent remembers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "Agent",
    "AgentCliError",
    "OpenAIChat",
    "PostgresDb",
    "RunResult",
    "SqliteDb",
    "__version__",
]

# Exported names are imported on first use, so that `import agentcli.cli` (every
# command) does not load the agent, the model client and the store up front.
_EXPORTS = {
    "Agent": ".services.agent",
    "RunResult": ".core.results",
    "AgentCliError": ".core.errors",
    "OpenAIChat": ".adapters.openai_chat",
    "SqliteDb": ".adapters.sqlite",
    "PostgresDb": ".adapters.postgres",
}

if TYPE_CHECKING:
    from .adapters.openai_chat import OpenAIChat
    from .adapters.postgres import PostgresDb
    from .adapters.sqlite import SqliteDb
    from .core.errors import AgentCliError
    from .core.results import RunResult
    from .services.agent import Agent


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        from importlib import import_module

        value = getattr(import_module(_EXPORTS[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
