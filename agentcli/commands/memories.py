"""``agentcli memories``: what the agent knows about a user."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from ..appstate import AppState
from ..core.errors import UsageError
from ..core.ranges import SEARCH_LIMIT
from ..core.records import Memory
from ..core.text import plural
from ..render import json_text, print_table
from ..services.memory_edit import forget, import_rows, remember, revise
from ..services.recall import search_memories
from ..services.serialize import memory_event_json, memory_json
from . import Subcommands
from .common import (
    ForceOption,
    JsonOption,
    OutputOption,
    UserOption,
    YesOption,
    confirm,
    state,
    write_private,
)
from .ranged import within

group = Subcommands()

TopicsOption = Annotated[
    list[str] | None, typer.Option("--topic", "-t", help="A topic; repeat for several.")
]
# Any id is taken: one no memory has (0, 2**64) is "no memory N", as an unknown one is.
IdArgument = Annotated[int, typer.Argument(help="The memory's id.", show_default=False)]
# Largest file `import` reads; an export of 100,000 memories is about 30 MiB.
MAX_IMPORT_BYTES = 64 * 2**20


def show(st: AppState, memories: list[Memory], json_: bool, empty: str) -> None:
    if json_:
        st.env.print_json([memory_json(m) for m in memories])
    elif not memories:
        st.env.info(empty)
    else:
        from ..views import short_time

        rows = [
            [str(m.id), m.memory, ", ".join(m.topics), short_time(m.updated_at)] for m in memories
        ]
        print_table(st.env, ["ID", "MEMORY", "TOPICS", "UPDATED"], rows)


def say(st: AppState, text: str, data: Any, json_: bool) -> None:
    if json_:
        st.env.print_json(data)
    else:
        st.env.line(text)  # ids in it are made inert in a terminal


@group.command("list")
def list_(
    ctx: typer.Context,
    user: UserOption = None,
    topic: Annotated[str | None, typer.Option(help="Only memories with this topic.")] = None,
    json_: JsonOption = False,
) -> None:
    """List a user's memories, oldest first."""
    st = state(ctx)
    user_id = st.user(user)
    tag = " ".join(topic.lower().split()) if topic is not None else None
    show(
        st,
        st.db(create=False).list_memories(user_id, topic=tag),
        json_,
        f"no memories for user {user_id}",
    )


@group.command()
def search(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="Words to look for.")],
    user: UserOption = None,
    limit: Annotated[
        int,
        typer.Option(
            "--limit",
            "-n",
            callback=within(SEARCH_LIMIT),
            help="Show at most this many; 0 shows all.",
        ),
    ] = 20,
    json_: JsonOption = False,
) -> None:
    """Search a user's memories, best match first."""
    if not query.strip():
        raise UsageError("the query is empty")
    st = state(ctx)
    user_id = st.user(user)
    db = st.db(create=False)
    found = search_memories(db, user_id, query, limit or max(db.count_memories(user_id), 1))
    show(st, found, json_, f"no memories of user {user_id} match")


@group.command()
def add(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="The memory, e.g. 'Sarah prefers email.'")],
    topic: TopicsOption = None,
    user: UserOption = None,
    json_: JsonOption = False,
) -> None:
    """Add a memory (an identical one is not stored twice)."""
    st = state(ctx)
    memory, added = remember(st.db(), st.user(user), text, topic)
    text = f"added memory {memory.id}" if added else f"memory {memory.id} already says that"
    say(st, text, memory_json(memory), json_)


@group.command()
def edit(
    ctx: typer.Context,
    memory_id: IdArgument,
    text: Annotated[str, typer.Argument(help="The memory's new text.")],
    topic: TopicsOption = None,
    user: UserOption = None,
    json_: JsonOption = False,
) -> None:
    """Rewrite a memory; --topic replaces its topics."""
    st = state(ctx)
    memory = revise(st.db(create=False), st.user(user), memory_id, text, topic)
    say(st, f"updated memory {memory.id}", memory_json(memory), json_)


@group.command()
def delete(
    ctx: typer.Context,
    memory_id: IdArgument,
    user: UserOption = None,
    json_: JsonOption = False,
) -> None:
    """Delete one memory."""
    st = state(ctx)
    memory = forget(st.db(create=False), st.user(user), memory_id)
    say(st, f"deleted memory {memory.id}", memory_json(memory), json_)


@group.command()
def clear(
    ctx: typer.Context,
    user: UserOption = None,
    yes: YesOption = False,
    json_: JsonOption = False,
) -> None:
    """Delete all of a user's memories (no other user's)."""
    st = state(ctx)
    user_id = st.user(user)
    db = st.db(create=False)
    count = db.count_memories(user_id)
    held = plural(count, "memory", "memories")
    if count and not confirm(st, f"Delete all {held} of user {user_id}?", yes):
        raise typer.Exit(1)
    deleted = db.clear_memories(user_id, actor="user") if count else 0
    say(
        st,
        f"deleted {plural(deleted, 'memory', 'memories')} of user {user_id}",
        {"user_id": user_id, "deleted": deleted},
        json_,
    )


@group.command()
def history(
    ctx: typer.Context,
    memory_id: IdArgument,
    user: UserOption = None,
    json_: JsonOption = False,
) -> None:
    """Show how a memory was added, changed and deleted."""
    st = state(ctx)
    events = st.db(create=False).memory_events(st.user(user), memory_id)
    if json_:
        st.env.print_json([memory_event_json(e) for e in events])
        return
    from ..views import short_time

    rows = [
        [
            short_time(e.created_at),
            e.action,
            e.actor,
            (e.run_id or "")[:12],
            e.after or e.before or "",
        ]
        for e in events
    ]
    print_table(st.env, ["WHEN", "ACTION", "ACTOR", "RUN", "MEMORY"], rows)


@group.command()
def export(
    ctx: typer.Context,
    user: UserOption = None,
    output: OutputOption = None,
    force: ForceOption = False,
) -> None:
    """Write a user's memories as JSON, the file `import` reads."""
    st = state(ctx)
    user_id = st.user(user)
    rows = [memory_json(m) for m in st.db(create=False).list_memories(user_id)]
    if output is None or str(output) == "-":
        st.env.print_json(rows)
        return
    write_private(output, json_text(rows), force=force)
    st.env.info(f"exported {len(rows)} of {user_id}'s memories to {output}")


@group.command("import")
def import_(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="A JSON file from `export`; - for stdin.")],
    user: UserOption = None,
    json_: JsonOption = False,
) -> None:
    """Import memories for a user; those already stored are skipped."""
    st = state(ctx)
    user_id = st.user(user)
    data = read_json(st, file)
    rows = import_rows(data)
    added = st.db().import_memories(user_id, rows, actor="user")
    say(
        st,
        f"imported {plural(added, 'memory', 'memories')} for user {user_id} "
        f"({len(rows) - added} already there)",
        {"user_id": user_id, "added": added, "skipped": len(rows) - added},
        json_,
    )


def read_json(st: AppState, file: str, limit: int = MAX_IMPORT_BYTES) -> Any:
    """A JSON file (or stdin for ``-``) of at most ``limit`` bytes, parsed."""
    try:
        if file == "-":
            stream = getattr(st.env.stdin, "buffer", st.env.stdin)
            raw = stream.read(limit + 1)
        else:
            with open(file, "rb") as fh:
                raw = fh.read(limit + 1)
    except OSError as exc:
        raise UsageError(f"cannot read {file}: {exc.strerror}") from None
    if len(raw) > limit:
        raise UsageError(f"{file} is larger than the import limit of {limit // 2**20} MiB")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise UsageError(f"{file} is not valid JSON: {exc}") from None
    except RecursionError:
        raise UsageError(f"{file} is not valid JSON: nested too deeply") from None
