"""``agentcli chat``: one-shot and piped messages; the REPL when a terminal has no message."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..appstate import AppState
from ..core.cancel import stop_signals_interrupt
from ..core.errors import AgentCliError, ModelError, RunCancelled, UsageError
from ..notices import Notices
from ..render import ReplyStream
from ..services.serialize import run_json
from ..services.sessions import new_session_id
from .common import EndpointOption, JsonOption, ModelOption, UserOption, state
from .complete import memory_modes, model_names, session_ids

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from ..config import Settings
    from ..core.attachments import Attachment
    from ..core.results import RunResult
    from ..services.agent import Agent

# Longest message accepted (characters); larger input is refused, not truncated.
MAX_MESSAGE_CHARS = 4_000_000


def read_stdin(st: AppState, limit: int = MAX_MESSAGE_CHARS) -> str:
    """Piped text, decoded as UTF-8; invalid bytes become U+FFFD with a warning.

    Reading stops once the input is certainly over ``limit`` characters (a
    character is at most 4 bytes), so endless input is refused, not buffered.
    """
    stream = st.env.stdin
    if hasattr(stream, "buffer"):
        raw = stream.buffer.read(4 * limit + 1)
        over = len(raw) > 4 * limit
    else:
        raw = stream.read(limit + 1)
        over = len(raw) > limit
    if over:
        raise UsageError(f"standard input is longer than the limit of {limit:,} characters")
    if isinstance(raw, str):
        return raw
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        st.env.warning("standard input is not valid UTF-8; invalid bytes were replaced by U+FFFD")
        return raw.decode("utf-8", errors="replace")


def compose_message(piped: str | None, argument: str | None) -> str:
    """Piped text first (without its final line breaks), then a blank line, then the
    argument."""
    if piped is not None:
        piped = piped.rstrip("\r\n")
    parts = [p for p in (piped, argument) if p is not None and p.strip()]
    if not parts:
        return ""
    if len(parts) == 2:
        return parts[0].rstrip("\n") + "\n\n" + parts[1]
    return parts[0]


def chat(
    ctx: typer.Context,
    words: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="message...", help="The message (its words are joined); piped text comes first."
        ),
    ] = None,
    user: UserOption = None,
    session: Annotated[
        str | None,
        typer.Option(
            "--session",
            "-s",
            help="Session id [default: a new session]",
            autocompletion=session_ids,
        ),
    ] = None,
    continue_: Annotated[
        bool, typer.Option("--continue", "-c", help="Continue your most recently used session.")
    ] = False,
    history_runs: Annotated[
        int | None,
        typer.Option(help="Past runs sent with each message; 0 turns history off [default: 5]"),
    ] = None,
    system: Annotated[
        str | None,
        typer.Option(
            help="System instructions, kept by the session for its later runs "
            '("" goes back to the default) [env: AGENTCLI_SYSTEM]'
        ),
    ] = None,
    role: Annotated[
        str | None,
        typer.Option(
            "--role",
            "-r",
            help="A role of config.toml or roles/NAME.md; the session keeps it "
            '("" drops it). agentcli roles list shows them.',
        ),
    ] = None,
    endpoint: EndpointOption = None,
    temperature: Annotated[
        float | None,
        typer.Option(help="Sampling temperature, 0 to 2 [env: AGENTCLI_TEMPERATURE]"),
    ] = None,
    top_p: Annotated[
        float | None, typer.Option(help="Nucleus sampling, 0 to 1 [env: AGENTCLI_TOP_P]")
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed for repeatable sampling [env: AGENTCLI_SEED]")
    ] = None,
    option: Annotated[
        list[str] | None,
        typer.Option(
            "--option",
            "-o",
            metavar="KEY=VALUE",
            help="Any other request field (repeatable); a VALUE that parses as JSON is sent "
            "as that, else as a string.",
        ),
    ] = None,
    model: ModelOption = None,
    memory: Annotated[
        str | None,
        typer.Option(
            help="Memory mode: agentic, automatic or off [default: agentic]",
            autocompletion=memory_modes,
        ),
    ] = None,
    memory_model: Annotated[
        str | None,
        typer.Option(
            help="Model (or alias) for the automatic memory manager.", autocompletion=model_names
        ),
    ] = None,
    summaries: Annotated[
        bool | None,
        typer.Option("--summaries/--no-summaries", help="Fold older runs into a summary."),
    ] = None,
    markdown: Annotated[
        bool | None,
        typer.Option(
            "--markdown/--no-markdown", help="Render replies as Markdown [default: markdown]"
        ),
    ] = None,
    max_tokens: Annotated[
        int | None,
        typer.Option(help="Longest reply in tokens [env: AGENTCLI_MAX_TOKENS; default: 2048]"),
    ] = None,
    context_window: Annotated[
        int | None,
        typer.Option(
            help="The model's context window in tokens [env: AGENTCLI_CONTEXT_WINDOW; "
            "default: asked of the server]"
        ),
    ] = None,
    files: Annotated[
        list[str] | None,
        typer.Option(
            "--file",
            "-f",
            help="Attach a file (repeatable; - reads stdin): text goes into the message, "
            "an image (PNG, JPEG, GIF, WebP) beside it for a model that takes images.",
        ),
    ] = None,
    file_limit: Annotated[
        int | None,
        typer.Option(
            help="Largest total size of the attached files, in bytes "
            "[env: AGENTCLI_FILE_LIMIT; default: 5000000]"
        ),
    ] = None,
    vision: Annotated[
        bool | None,
        typer.Option(
            "--vision/--no-vision",
            help="The model takes images [default: when it is in vision_models]",
        ),
    ] = None,
    json_: JsonOption = False,
    usage: Annotated[
        bool, typer.Option("--usage", help="Print token counts to stderr after each reply.")
    ] = False,
) -> None:
    """Chat with the agent: one message from the argument or stdin, or the REPL."""
    st = state(ctx)
    message = " ".join(words) if words else None
    if continue_ and session is not None:
        raise UsageError("--continue and --session cannot be used together")
    from ..profiles import parse_option_pairs

    flags = dict(
        model=model,
        history_runs=history_runs,
        memory=memory,
        memory_model=memory_model,
        summaries=summaries,
        markdown=markdown,
        max_tokens=max_tokens,
        context_window=context_window,
        file_limit=file_limit,
        vision=vision,
        temperature=temperature,
        top_p=top_p,
        seed=seed,
        endpoint=endpoint,
        options=parse_option_pairs(option or []) or None,
    )
    settings = st.settings(**flags)
    if role:
        settings = st.settings(role=role, **flags)  # an unknown role fails before any call
    st.env.markdown = settings.markdown
    user_id = st.user(user)

    attached = attach(st, settings, files or [])
    stdin_is_file = "-" in (files or [])
    piped = None if st.env.stdin_isatty or stdin_is_file else read_stdin(st)
    text = compose_message(piped, message)
    interactive = st.env.stdin_isatty and message is None
    if len(text) > MAX_MESSAGE_CHARS:
        raise UsageError(
            f"the message is {len(text):,} characters; the limit is {MAX_MESSAGE_CHARS:,}"
        )
    if not interactive and not text.strip() and not attached:
        raise UsageError("the message is empty: give it as an argument or on stdin")
    if interactive and json_:
        raise UsageError("--json needs a message: give it as an argument or on stdin")

    from ..runtime import build_agent, chat_model

    chat_model(settings).check_configured()

    db = st.db()
    session_id = session
    if session_id is None and continue_:
        latest = db.latest_session(user_id)
        session_id = latest.session_id if latest else None
    fresh = session_id is None  # a session of its own: a failure leaves none behind
    if session_id is None:
        session_id = new_session_id()
        if not json_ and not interactive:  # the REPL's header names it
            st.env.info(f"session: {session_id}")
    elif not session_id.strip():
        raise UsageError("the session id must not be empty")

    if role is None:  # the role the session keeps, if it has one
        settings = _remembered_role(st, flags, settings, user_id, session_id)
    agent = build_agent(settings, db, instructions=system, role=role)
    # SIGTERM, and SIGHUP when the terminal closes, stop a reply as Ctrl-C does.
    with stop_signals_interrupt():
        if interactive:
            from ..repl import Repl

            def use_role(name: str, kept: bool) -> tuple[Settings, Agent]:
                chosen = st.settings(role=name, **flags) if name else st.settings(**flags)
                return chosen, build_agent(chosen, db, role=None if kept else name)

            repl = Repl(
                st.env,
                db,
                agent,
                settings,
                user_id=user_id,
                session_id=session_id,
                usage=usage,
                use_role=use_role,
            )
            repl.attached = attached  # for the first message
            repl.run()
            return
        run_once(
            st,
            agent,
            text,
            user_id=user_id,
            session_id=session_id,
            json_=json_,
            usage=usage,
            keep_failed=not fresh,
            attachments=attached,
        )


def attach(st: AppState, settings: Settings, paths: list[str]) -> list[Attachment]:
    """The files of ``-f``, read and checked before anything is sent or stored."""
    if not paths:
        return []
    from ..core.attachments import FileRefused, images, no_vision
    from ..modelnames import accepts_images
    from ..services.files import read_files

    def stdin(limit: int) -> bytes:
        stream = st.env.stdin
        if st.env.stdin_isatty:
            raise UsageError("-f - reads standard input, which is a terminal here")
        raw = stream.buffer.read(limit) if hasattr(stream, "buffer") else stream.read(limit)
        return raw if isinstance(raw, bytes) else raw.encode("utf-8")

    found = read_files(paths, limit=settings.file_limit, stdin=stdin)
    pictures = images(found)
    if pictures and not accepts_images(settings, settings.model):
        raise FileRefused(no_vision(settings.model, pictures[0].name))
    return found


def _remembered_role(
    st: AppState, flags: dict[str, Any], settings: Settings, user_id: str, session_id: str
) -> Settings:
    """The settings with the role the session keeps; a role since removed is
    left out with a warning."""
    found = st.db().get_session(user_id, session_id)
    if found is None or not found.role:
        return settings
    try:
        return st.settings(role=found.role, **flags)
    except UsageError as exc:
        st.env.warning(f"{exc}; this run goes without it")
        return settings


def run_once(
    st: AppState,
    agent: Agent,
    text: str,
    *,
    user_id: str,
    session_id: str,
    json_: bool,
    usage: bool,
    keep_failed: bool = True,
    attachments: Sequence[Attachment] = (),
) -> None:
    """One message, its reply on stdout; memory notices after it, warnings as they happen.

    A run that fails is stored as an ``error`` run of a session the user named
    (``keep_failed``); in a session of its own it leaves nothing behind (see
    :func:`~agentcli.services.sessions.discard_failed`) and the error says how to retry.
    """
    env = st.env
    notices = Notices(env, warn=env.warning)

    def ask(on_text: Callable[[str], None] | None = None) -> RunResult:
        return agent.run(
            text,
            user_id=user_id,
            session_id=session_id,
            on_text=on_text,
            on_event=notices.put,
            background=True,
            attachments=attachments,
        )

    try:
        if json_:
            result = ask()
        else:
            with ReplyStream(env) as shown:
                result = ask(shown.feed)
                if not shown.parts and result.content:
                    shown.feed(result.content)
    except RunCancelled:
        raise
    except AgentCliError as exc:
        if keep_failed:
            if isinstance(exc, ModelError):
                raise failed(exc, f"(your message was kept in session {session_id})") from None
            raise
        from ..services.sessions import discard_failed

        discard_failed(agent.db, user_id, session_id)
        raise failed(
            exc,
            "(nothing was stored: run the command again to retry; with -s ID a failed "
            "message is kept)",
        ) from None
    finally:
        try:
            with env.status("updating memory and summary…"):
                agent.wait()
        except AgentCliError:
            pass
        notices.show()
    if json_:  # after the follow-up work: the manager's memory changes are part of it
        env.print_json(run_json(result))
    if usage:
        from ..views import usage_line

        env.stderr.write(usage_line(result.usage) + "\n")


def failed(exc: AgentCliError, note: str) -> AgentCliError:
    """``exc``'s message with ``note`` after it, and its exit status."""
    again = AgentCliError(f"{exc} {note}")
    again.exit_status = exc.exit_status
    return again
