"""Wiring: the one place that picks adapters for the services from settings.

Front ends (the CLI, the REPL, the HTTP and MCP servers) ask here for a store,
a model or an agent; the services never import an adapter. A new backend is
chosen in :func:`open_store`; a new model client in :func:`chat_model`.
Adapters are imported inside the functions, so importing this module costs
nothing at start-up.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from .adapters.openai_chat import OpenAIChat
    from .config import Settings
    from .core.events import EventSink
    from .core.protocols import ChatModel, Store
    from .services.agent import Agent


def open_store(target: str | os.PathLike[str] | None = None) -> Store:
    """The store named by ``target`` (a file path), else ``AGENTCLI_DB``, else the default file."""
    from .adapters.sqlite import SqliteDb
    from .config import db_path

    return SqliteDb(db_path(target))


def chat_model(settings: Settings, model_id: str | None = None) -> OpenAIChat:
    """The chat model the settings describe (``model_id`` overrides the model name)."""
    from .adapters.openai_chat import OpenAIChat

    return OpenAIChat(
        model_id or settings.model,
        base_url=settings.base_url,
        api_key=settings.api_key,
        timeout=settings.timeout,
    )


def build_agent(
    settings: Settings,
    store: Store,
    *,
    instructions: str | None = None,
    on_event: EventSink | None = None,
    model: ChatModel | None = None,
    memory_model: ChatModel | None = None,
    summary_model: ChatModel | None = None,
    executor: Executor | None = None,
) -> Agent:
    """An agent with the history, memory and summary settings given.

    A long-lived front end (the server) builds its models once and passes them
    in: ``model`` answers (default: from the settings), ``memory_model`` runs the
    memory manager (default: ``settings.memory_model``, else the chat model),
    ``summary_model`` the summary folds (default: the chat model). ``executor``
    runs the follow-up work of background runs.
    """
    from .services.agent import Agent

    if memory_model is None and settings.memory_model:
        memory_model = chat_model(settings, settings.memory_model)
    return Agent(
        model=model or chat_model(settings),
        db=store,
        instructions=instructions,
        num_history_runs=settings.history_runs,
        add_history_to_context=settings.history_runs > 0,
        enable_agentic_memory=settings.memory == "agentic",
        update_memory_on_run=settings.memory == "automatic",
        memory_model=memory_model,
        memory_token_budget=settings.memory_budget,
        enable_session_summaries=settings.summaries,
        summary_batch_runs=settings.summary_batch,
        summary_model=summary_model,
        on_event=on_event,
        executor=executor,
    )
