"""Exceptions raised by agentcli, each carrying the exit status the CLI uses."""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    """Process exit statuses of the ``agentcli`` command."""

    OK = 0
    ERROR = 1
    USAGE = 2
    INTERRUPTED = 130


class AgentCliError(Exception):
    """Base class of every expected failure; its message is one line for the user."""

    exit_status = ExitStatus.ERROR


class UsageError(AgentCliError):
    """The command line or its input cannot be used as given."""

    exit_status = ExitStatus.USAGE


class ConfigError(AgentCliError):
    """The configuration is missing something or cannot be read."""

    exit_status = ExitStatus.USAGE


class StoreError(AgentCliError):
    """The database cannot be opened, read or written."""


class SchemaTooNewError(StoreError):
    """The database was written by a newer agentcli and is left untouched."""


class NotFoundError(AgentCliError):
    """A session, run or memory named by the user does not exist for that user."""


class RunGoneError(NotFoundError):
    """A run to finish is no longer stored: its session was deleted while it ran."""


class DuplicateMemoryError(AgentCliError):
    """Another memory of the same user already says the same thing."""


class ModelError(AgentCliError):
    """The model endpoint failed after every retry."""


class ToolsRejectedError(ModelError):
    """The endpoint refused a request because it offered tools (a model without tool use)."""


class ContextLengthError(ModelError):
    """The server refused a request larger than the model's context window."""

    def __init__(self, message: str, window: int | None = None, request: int | None = None):
        super().__init__(message)
        self.window = window  # tokens, when the server said
        self.request = request


class MessageTooLongError(UsageError):
    """A message that cannot fit the model's context window even alone; no call was made."""


class PartialResponseError(ModelError):
    """The connection failed after part of the reply had arrived."""

    def __init__(self, message: str, partial: str):
        super().__init__(message)
        self.partial = partial


class RunCancelled(AgentCliError):
    """A run was cancelled by the user (Ctrl-C) while the model was answering."""

    exit_status = ExitStatus.INTERRUPTED


def redact(text: str, *secrets: str | None) -> str:
    """Return ``text`` with every non-empty secret replaced by ``***``."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text
