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

from .core.errors import ConfigError

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from .adapters.openai_chat import OpenAIChat
    from .config import Settings
    from .core.events import EventSink
    from .core.protocols import ChatModel, Store
    from .services.agent import Agent


def open_store(
    target: str | os.PathLike[str] | None = None,
    *,
    db_schema: str | None = None,
    create: bool = True,
) -> Store:
    """The store named by ``target``, else ``AGENTCLI_DB``, else ``db`` in the config
    file, else the default file.

    A PostgreSQL URL (``postgresql://``, ``postgres://``, ``postgresql+psycopg://``)
    opens :class:`PostgresDb` in ``db_schema`` (else ``AGENTCLI_DB_SCHEMA``, else the
    config file's, else ``agentcli``); any other URL is refused, never taken for a
    file name; anything else is a SQLite file. Without ``create`` (the commands
    that only read), a SQLite file that does not exist is read as an empty
    database, and neither it nor its directory is created.
    """
    from .config import db_target
    from .core.dburl import is_postgres_url, looks_like_url, shown_target

    chosen = db_target(target)
    if is_postgres_url(chosen):
        from .config import db_schema as configured_schema

        try:
            from .adapters.postgres import PostgresDb
        except ImportError as exc:
            raise ConfigError(
                f"a PostgreSQL database needs psycopg ({exc.name} is not installed): "
                'pip install "agentcli[postgres]"'
            ) from None
        return PostgresDb(db_url=chosen, db_schema=db_schema or configured_schema())
    if looks_like_url(chosen):
        from .config import db_origin

        raise ConfigError(
            f"unsupported database URL {shown_target(chosen)}: give a file path (SQLite) "
            f"or a postgresql:// URL (from {db_origin(target)})"
        )
    from .adapters.sqlite import SqliteDb

    return SqliteDb(chosen, create=create)


# What was learned about model endpoints (context windows, refused tools), in
# the data directory: see agentcli/adapters/notes_file.py.
ENDPOINTS_FILE = "endpoints.json"


def chat_model(settings: Settings, model_id: str | None = None) -> OpenAIChat:
    """The chat model the settings describe (``model_id`` overrides the model name),
    with its notes about the endpoint kept in the data directory."""
    from .adapters.notes_file import FileNotes
    from .adapters.openai_chat import OpenAIChat
    from .config import data_dir

    model = OpenAIChat(
        model_id or settings.model,
        base_url=settings.base_url,
        api_key=settings.api_key,
        timeout=settings.timeout,
        stall_timeout=settings.stall_timeout,
        max_tokens=settings.max_tokens,
        options=settings.generation_options(),
    )
    model.notes = FileNotes(data_dir() / ENDPOINTS_FILE, model.note_scope)
    endpoint = model.endpoint

    def keep_names(names: list[str]) -> None:
        from .modelnames import write_cache

        write_cache(endpoint, names)

    model.models_seen = keep_names
    if settings.vision or settings.vision_models:
        from .modelnames import accepts_images

        model.vision = accepts_images(settings, model.id)
    return model


def build_agent(
    settings: Settings,
    store: Store,
    *,
    instructions: str | None = None,
    role: str | None = None,
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

    ``instructions`` and ``role``, when given, become the session's (``""``
    clears); a role also clears the session's own instructions, so that the
    role's (``settings.system``) are sent.
    """
    from .services.agent import Agent

    if memory_model is None and settings.memory_model:
        memory_model = chat_model(settings, settings.memory_model)
    return Agent(
        model=model or chat_model(settings),
        db=store,
        instructions="" if instructions is None and role else instructions,
        default_instructions=settings.system,
        role=role,
        options=settings.generation_options(),
        num_history_runs=settings.history_runs,
        add_history_to_context=settings.history_runs > 0,
        enable_agentic_memory=settings.memory == "agentic",
        update_memory_on_run=settings.memory == "automatic",
        memory_model=memory_model,
        memory_token_budget=settings.memory_budget,
        enable_session_summaries=settings.summaries,
        summary_batch_runs=settings.summary_batch,
        summary_model=summary_model,
        context_window=settings.context_window,
        max_tokens=settings.max_tokens,
        memory_max_tokens=settings.memory_max_tokens,
        summary_max_tokens=settings.summary_max_tokens,
        on_event=on_event,
        executor=executor,
    )
