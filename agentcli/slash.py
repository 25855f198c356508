"""The REPL's slash commands: a small registry and the built-in commands.

A command is a function ``(repl, arg) -> None`` registered with :func:`command`;
the REPL loop, ``/help`` and tab completion pick it up, so adding one takes a
few lines and never touches the loop::

    @command("remember", args="TEXT", help="Remember a fact about you.")
    def remember(repl: Repl, arg: str) -> None:
        repl.env.info(...)

``repl`` is what the REPL offers its commands (:class:`Repl`, which
:class:`agentcli.repl.Repl` provides): ``env``, ``db``, ``agent``,
``user_id``, ``session_id``, ``done``, ``current()``, ``switch(id)``,
``recap()``. Raise an :class:`AgentCliError` (e.g. ``UsageError``) to report
a problem; the REPL prints it and carries on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from . import views
from .core.errors import UsageError
from .core.ranges import LAST_RUNS, Range
from .core.records import Session, Usage

if TYPE_CHECKING:
    from .config import Settings
    from .core.attachments import Attachment
    from .core.protocols import Store
    from .render import Env
    from .services.agent import Agent


class Repl(Protocol):
    """What a slash command may use of the REPL that runs it."""

    env: Env
    db: Store
    agent: Agent
    settings: Settings
    user_id: str
    session_id: str
    done: bool
    attached: list[Attachment]

    def current(self) -> Session | None:
        """The current session, if it has been stored yet."""

    def switch(self, session_id: str) -> None:
        """Make ``session_id`` the current session."""

    def recap(self) -> None:
        """Show the last few exchanges of the current session."""

    def use_model(self, name: str) -> str:
        """Answer the following runs with model ``name`` (an alias resolved); its name."""

    def use_role(self, name: str) -> None:
        """Use the role ``name`` (``""``: none) for the following runs."""


Handler = Callable[["Repl", str], None]
Completer = Callable[["Repl", str], Iterable[str]]


@dataclass(frozen=True)
class SlashCommand:
    name: str
    run: Handler
    help: str
    args: str = ""
    aliases: tuple[str, ...] = ()
    complete: Completer | None = None

    @property
    def usage(self) -> str:
        return f"/{self.name} {self.args}".rstrip()


REGISTRY: dict[str, SlashCommand] = {}
_ALIASES: dict[str, str] = {}


def command(
    name: str,
    *,
    help: str,
    args: str = "",
    aliases: tuple[str, ...] = (),
    complete: Completer | None = None,
) -> Callable[[Handler], Handler]:
    """Register a slash command ``/name``; ``args`` is its usage, e.g. ``"[N]"``."""

    def register(fn: Handler) -> Handler:
        REGISTRY[name] = SlashCommand(name, fn, help, args, aliases, complete)
        for alias in aliases:
            _ALIASES[alias] = name
        return fn

    return register


def lookup(name: str) -> SlashCommand | None:
    return REGISTRY.get(_ALIASES.get(name, name))


def is_command(line: str) -> bool:
    """A line starting with one ``/`` is a command; ``//`` escapes a leading slash."""
    text = line.lstrip()
    return text.startswith("/") and not text.startswith("//")


def dispatch(repl: Repl, line: str) -> None:
    """Run the command on ``line`` (e.g. ``"/history 3"``)."""
    name, _, arg = line.strip()[1:].partition(" ")
    found = lookup(name)
    if found is None:
        raise UsageError(f"unknown command /{name}: /help lists the commands")
    found.run(repl, arg.strip())


def completions(repl: Repl, text: str) -> list[tuple[str, int, str]]:
    """``(completion, start position, description)`` for the text before the cursor."""
    if not is_command(text):
        return []
    text = text.lstrip()
    if " " not in text:
        return [
            ("/" + c.name, -len(text), c.help)
            for c in REGISTRY.values()
            if c.name.startswith(text[1:])
        ]
    found = lookup(text[1:].split(" ", 1)[0])
    arg = text.split(" ", 1)[1]
    if found is None or found.complete is None or " " in arg:
        return []
    return [(v, -len(arg), "") for v in found.complete(repl, arg) if v.startswith(arg)]


def _number(arg: str, usage: str, allowed: Range | None = None) -> int:
    """``arg`` as a whole number written in ASCII digits (within ``allowed`` when
    given), else a usage error.

    (``str.isdigit`` alone also accepts superscripts such as ``²``, which
    ``int`` then refuses.)
    """
    text = arg.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 100:
        raise UsageError(f"usage: {usage}")
    number = int(text)
    if allowed is not None and not allowed.holds(number):
        raise UsageError(f"usage: {usage}; the number must be {allowed.describe()}")
    return number


def _count(arg: str, default: int, usage: str) -> int:
    """A count of runs or sessions within :data:`LAST_RUNS`, ``default`` when not given."""
    if not arg:
        return default
    return _number(arg, usage, LAST_RUNS)


def _session_ids(repl: Repl, prefix: str) -> list[str]:
    return [s.session_id for s in repl.db.list_sessions(repl.user_id, limit=50)]


# -- the built-in commands --------------------------------------------------------
KEYS = (
    "Enter sends · Esc Enter (or Alt-Enter) starts a new line · Ctrl-C cancels a reply or "
    "clears the line · Ctrl-D or /exit leaves · Tab completes commands · "
    "// at the start sends a line that begins with /"
)


@command("help", help="List the commands and keys.")
def help_(repl: Repl, arg: str) -> None:
    repl.env.table(["COMMAND", "WHAT IT DOES"], [[c.usage, c.help] for c in REGISTRY.values()])
    repl.env.line(KEYS, "dim")


@command("history", args="[N]", help="Show the last N runs of this session (default 10).")
def history(repl: Repl, arg: str) -> None:
    last = _count(arg, 10, "/history [N]")
    session = repl.current()
    if session is None or not session.runs:
        repl.env.info("no messages in this session yet")
        return
    views.conversation(repl.env, repl.db.session_messages(session.pk, last_runs=last))


@command("sessions", args="[N]", help="List your last N sessions (default 10).")
def sessions(repl: Repl, arg: str) -> None:
    limit = _count(arg, 10, "/sessions [N]")
    found = repl.db.list_sessions(repl.user_id, limit=limit)
    if not found:
        repl.env.info("no sessions yet")
        return
    views.sessions_table(repl.env, found, current=repl.session_id)
    if len(found) == limit and (total := repl.db.count_sessions(repl.user_id)) > limit:
        repl.env.info(f"{limit} of {total} sessions shown; /sessions {total} shows all")


@command("new", args="[ID]", help="Start a new session (a new id unless given).")
def new(repl: Repl, arg: str) -> None:
    from .services.sessions import new_session_id

    if arg and repl.db.get_session(repl.user_id, arg) is not None:
        raise UsageError(f"session {arg} exists: /switch {arg} to continue it")
    repl.switch(arg or new_session_id())
    repl.env.info(f"new session: {repl.session_id}")


@command("switch", args="ID", help="Continue another of your sessions.", complete=_session_ids)
def switch(repl: Repl, arg: str) -> None:
    if not arg:
        raise UsageError("usage: /switch ID")
    repl.db.require_session(repl.user_id, arg)
    repl.switch(arg)
    repl.env.info(f"session: {arg}")
    repl.recap()


@command("rename", args="NAME", help="Name this session.")
def rename(repl: Repl, arg: str) -> None:
    if not arg:
        raise UsageError("usage: /rename NAME")
    repl.db.ensure_session(repl.user_id, repl.session_id)
    renamed = repl.db.rename_session(repl.user_id, repl.session_id, arg)
    repl.env.info(f"renamed {renamed.session_id}: {renamed.name}")


@command("usage", help="Tokens used by this session so far.")
def usage(repl: Repl, arg: str) -> None:
    session = repl.current()
    used = repl.db.session_usage(session.pk) if session else Usage()
    runs = session.runs if session else 0
    # A server that sends no counts in its streams: agentcli estimated them.
    notes = getattr(repl.agent, "notes", None)
    estimated = notes is not None and notes.get("usage_in_stream") is False
    repl.env.line(
        f"session {repl.session_id}: {used.input_tokens:,} input and "
        f"{used.output_tokens:,} output tokens in {views.runs_count(runs)}"
        + (" (estimated: the server sends no counts)" if estimated else "")
    )


@command(
    "summary",
    args="[show]",
    help="Fold every run of this session into its summary and show it; 'show': as stored.",
)
def summary(repl: Repl, arg: str) -> None:
    from .services.summary import stored_summary

    if arg not in ("", "show"):
        raise UsageError("usage: /summary [show]")
    if repl.current() is None:
        repl.env.info("no messages in this session yet")
        return
    if arg == "show":
        found = stored_summary(repl.db, repl.user_id, repl.session_id)
    else:
        found = repl.agent.summarize_session(user_id=repl.user_id, session_id=repl.session_id)
    if not found.summary:
        repl.env.info("no summary yet")
        return
    repl.env.block(found.summary)
    from .core.text import plural

    repl.env.info(f"covers {plural(found.runs, 'run')}")


@command("memories", args="[QUERY]", help="What the agent knows about you (or what matches).")
def memories(repl: Repl, arg: str) -> None:
    from .render import print_table
    from .services.recall import search_memories

    if arg:
        found = search_memories(repl.db, repl.user_id, arg, 20)
    else:
        found = repl.db.list_memories(repl.user_id)
    if not found:
        repl.env.info("no memories match" if arg else "no memories yet")
        return
    rows = [[str(m.id), m.memory, ", ".join(m.topics)] for m in found]
    print_table(repl.env, ["ID", "MEMORY", "TOPICS"], rows)


@command("remember", args="TEXT", help="Remember a fact about you, in every session.")
def remember(repl: Repl, arg: str) -> None:
    from .services.memory_edit import change_notice
    from .services.memory_edit import remember as add

    if not arg:
        raise UsageError("usage: /remember TEXT")
    memory, added = add(repl.db, repl.user_id, arg)
    if added:
        repl.env.info(change_notice("added", memory) + f" (id {memory.id})")
    else:
        repl.env.info(f"already known (id {memory.id}): {memory.memory}")


@command("forget", args="ID", help="Delete one of your memories (ids: /memories).")
def forget(repl: Repl, arg: str) -> None:
    from .services.memory_edit import change_notice
    from .services.memory_edit import forget as delete

    memory_id = _number(arg, "/forget ID (a number; /memories lists them)")
    repl.env.info(change_notice("deleted", delete(repl.db, repl.user_id, memory_id)))


def _attached_line(repl: Repl) -> str:
    names = ", ".join(f"{a.name} ({a.size:,} bytes)" for a in repl.attached)
    return f"attached to your next message: {names}"


@command(
    "file",
    args="[PATH]",
    help="Attach a file (text or image) to your next message; no PATH lists them, "
    "'clear' drops them.",
)
def file(repl: Repl, arg: str) -> None:
    from .core.attachments import FileRefused, images, no_vision
    from .modelnames import accepts_images
    from .services.files import read_files

    if not arg:
        repl.env.info(_attached_line(repl) if repl.attached else "no files attached")
        return
    if arg == "clear" and repl.attached:
        repl.attached = []
        repl.env.info("no files attached")
        return
    if arg == "-":
        raise UsageError("/file takes a path: standard input is the terminal here")
    found = read_files([arg], limit=repl.settings.file_limit, already=repl.attached)
    model = repl.settings.model
    if images(found) and not accepts_images(repl.settings, model):
        raise FileRefused(no_vision(model, found[0].name))
    repl.attached = [*repl.attached, *found]
    repl.env.info(_attached_line(repl))


def _model_names(repl: Repl, prefix: str) -> list[str]:
    from .modelnames import cached_names, endpoint_of

    cached = cached_names(endpoint_of(repl.settings))
    return list(dict.fromkeys([*repl.settings.aliases, *cached]))


@command(
    "model",
    args="[NAME]",
    help="Answer with model NAME (or an alias) from now on; no NAME shows the model.",
    complete=_model_names,
)
def model(repl: Repl, arg: str) -> None:
    if not arg:
        repl.env.line(f"model {repl.settings.model}")
        return
    chosen = repl.use_model(arg)
    shown = chosen if chosen == arg else f"{chosen} (alias {arg})"
    repl.env.info(f"model: {shown}")


def _role_names(repl: Repl, prefix: str) -> list[str]:
    from .config import load_roles

    try:
        return [name for name in load_roles() if name.startswith(prefix)]
    except Exception:  # a broken config file: no completions
        return []


@command(
    "role",
    args="[NAME|none]",
    help="Use a role for the following messages (none: no role); alone, the current one.",
    complete=_role_names,
)
def role(repl: Repl, arg: str) -> None:
    if arg:
        repl.use_role("" if arg == "none" else arg)
    s = repl.settings
    if not s.role:
        repl.env.info(f"no role · model {s.model}")
        return
    repl.env.info(f"role {s.role} · model {s.model} · memory {s.memory}")
    if s.system:
        repl.env.line(views.one_line(s.system, 200), "dim")


@command("exit", help="Leave (as does Ctrl-D).", aliases=("quit",))
def exit_(repl: Repl, arg: str) -> None:
    repl.done = True
