"""The interactive REPL (prompt-toolkit): input, slash commands, streaming replies.

I/O only: runs go through :class:`agentcli.services.agent.Agent`, data through
the store, drawing through ``render``/``views``, commands through ``slash``,
what the agent reports after a run through ``notices``. It receives what it
uses (environment, store, agent, settings); it knows nothing of the CLI.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import slash, views
from .config import data_dir, ensure_private_dir, history_path
from .core.cancel import Terminated
from .core.errors import AgentCliError, RunCancelled
from .core.records import Session
from .notices import Notices
from .render import ReplyStream, safe_text

if TYPE_CHECKING:
    from collections.abc import Callable

    from .config import Settings
    from .core.attachments import Attachment
    from .core.protocols import Store
    from .render import Env
    from .services.agent import Agent

PROMPT = "› "
CONTINUATION = "… "
# Runs shown when entering a session that already has some.
RECAP_RUNS = 3


class Repl:
    """One interactive chat: who, which session, and the loop around the prompt.

    ``input``/``output`` are prompt-toolkit's (tests pass a pipe input and a
    dummy output); everything else is written through ``env``.
    """

    def __init__(
        self,
        env: Env,
        db: Store,
        agent: Agent,
        settings: Settings,
        *,
        user_id: str,
        session_id: str,
        input: Any = None,
        output: Any = None,
        usage: bool = False,
        use_role: Callable[[str, bool], tuple[Settings, Agent]] | None = None,
    ):
        self.env = env
        self.db = db
        self.agent = agent
        self.settings = settings
        self.user_id = user_id
        self.session_id = session_id
        self.done = False
        self._input = input
        self._output = output
        self.usage = usage  # token counts after each reply (--usage)
        # Settings and an agent for another role (``""``: none), for /role and
        # /switch; the flag says the role is the session's own (kept, not set).
        self._use_role = use_role
        # Memory notices and warnings of runs and of the work that follows
        # them (on a worker thread), shown between prompts.
        self.notices = Notices(env)
        # The session last seen stored: if it is gone at the next message, it
        # was deleted by another process, and the user is told before it is
        # started again under the same id.
        self._seen: str | None = None
        # Files attached (/file) to the next message.
        self.attached: list[Attachment] = []

    # -- state used by slash commands ------------------------------------------
    def current(self) -> Session | None:
        found = self.db.get_session(self.user_id, self.session_id)
        if found is not None:
            self._seen = self.session_id
        return found

    def switch(self, session_id: str) -> None:
        """Continue ``session_id``; an existing session brings back its own role."""
        self.session_id = session_id
        found = self.current()
        if (
            self._use_role is None
            or found is None
            or (found.role or "") == (self.settings.role or "")
        ):
            return
        try:
            self.use_role(found.role or "", kept=True)
        except AgentCliError as exc:  # a role since removed: the session goes on without it
            self.env.warning(f"{safe_text(str(exc))}; continuing without the session's role")
            self.use_role("", kept=True)

    def use_model(self, name: str) -> str:
        """Answer the following runs with model ``name`` (or the model it is an alias of)."""
        from .modelnames import resolve
        from .runtime import chat_model

        chosen = resolve(self.settings, name)
        self.agent.use_model(chat_model(self.settings, chosen))
        self.settings.model = chosen
        return chosen

    def use_role(self, name: str, *, kept: bool = False) -> None:
        """Run the following messages with the role ``name`` (``""``: none);
        ``kept``: it is the current session's own, which is left as it is."""
        if self._use_role is None:
            raise AgentCliError("roles cannot be changed here")
        settings, agent = self._use_role(name, kept)
        self.agent.wait()
        self.agent, self.settings = agent, settings

    # -- what is shown ------------------------------------------------------------
    def header(self) -> None:
        s = self.settings
        role = f" · role {s.role}" if s.role else ""
        self.env.line(
            f"agentcli · user {self.user_id} · session {self.session_id} · "
            f"model {s.model} · memory {s.memory}{role}",
            "bold",
        )
        self.env.line("/help lists commands · Esc Enter: new line · Ctrl-D: leave", "dim")
        if self.attached:
            names = ", ".join(a.name for a in self.attached)
            self.env.info(f"attached to your first message: {names}")

    def recap(self) -> None:
        """The last few exchanges of the current session, if it has any."""
        session = self.current()
        if session is None or not session.runs:
            return
        self.env.line()
        if session.runs > RECAP_RUNS:
            earlier = session.runs - RECAP_RUNS
            self.env.line(f"… {views.runs_count(earlier)} before these (/history N)", "dim")
        messages = self.db.session_messages(session.pk, last_runs=RECAP_RUNS)
        views.conversation(self.env, messages)

    # -- one line of input -------------------------------------------------------
    def handle(self, line: str) -> None:
        """A line typed at the prompt: a slash command, a message, or nothing."""
        if not line.strip():
            return
        try:
            if slash.is_command(line):
                slash.dispatch(self, line)
            else:
                text = line.strip()
                self.send(text[1:] if text.startswith("//") else text)
        except AgentCliError as exc:
            self.env.error(safe_text(str(exc)))

    def send(self, message: str) -> None:
        """Run one turn, streaming the reply; Ctrl-C cancels this reply only."""
        if self._seen == self.session_id and self.current() is None:
            self.env.warning(
                f"session {self.session_id} was deleted by another command; "
                "this message starts it again"
            )
        self._seen = self.session_id
        attached, self.attached = self.attached, []  # sent (or stored as failed) with this one
        try:
            with ReplyStream(self.env) as shown:
                result = self.agent.run(
                    message,
                    user_id=self.user_id,
                    session_id=self.session_id,
                    on_text=shown.feed,
                    on_event=self.notices.put,
                    background=True,
                    attachments=attached,
                )
                if not shown.parts and result.content:
                    shown.feed(result.content)
        except (RunCancelled, KeyboardInterrupt) as exc:
            self.env.info("cancelled")
            if isinstance(exc, Terminated):
                raise  # SIGTERM or SIGHUP: the REPL ends
            return
        if self.usage:
            self.env.info(views.usage_line(result.usage))
        self.notices.show()

    # -- the loop ----------------------------------------------------------------------
    def run(self) -> None:
        prompt = self._prompt_session()
        self.header()
        self.recap()
        try:
            while not self.done:
                self.notices.show()
                try:
                    line = self._read(prompt)
                except Terminated:
                    raise
                except KeyboardInterrupt:
                    continue  # Ctrl-C at the prompt clears the line
                except EOFError:
                    break
                self.handle(line)
        finally:
            self.agent.wait()
            self.notices.show()

    def _read(self, prompt: Any) -> str:
        if self._input is not None:
            return prompt.prompt(PROMPT)
        from prompt_toolkit.patch_stdout import patch_stdout

        # Warnings from follow-up work print above the prompt instead of through it;
        # those that came before it are shown first.
        with patch_stdout(raw=True), self.notices.warnings_to(warn_above_prompt):
            self.notices.show()
            return prompt.prompt(PROMPT)

    def _prompt_session(self) -> Any:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
        from prompt_toolkit.completion import Completer, Completion
        from prompt_toolkit.history import FileHistory
        from prompt_toolkit.key_binding import KeyBindings

        repl = self

        class SlashCompleter(Completer):
            def get_completions(self, document: Any, complete_event: Any):
                for text, start, meta in slash.completions(repl, document.text_before_cursor):
                    yield Completion(text, start_position=start, display_meta=meta)

        keys = KeyBindings()

        @keys.add("escape", "enter")
        def _newline(event: Any) -> None:
            event.current_buffer.insert_text("\n")

        path = history_path(self.user_id)

        class KeptHistory(FileHistory):
            """The input history file; a line it cannot save (a full disk) is one warning."""

            failed = False

            def store_string(self, string: str) -> None:
                try:
                    super().store_string(string)
                except OSError as exc:
                    if not self.failed:
                        self.failed = True
                        repl.env.warning(f"input history not saved to {path}: {exc.strerror}")

        history: Any
        try:
            ensure_private_dir(data_dir())
            history = KeptHistory(str(private_file(path)))
        except OSError as exc:  # a full disk, a read-only directory: the REPL goes on
            from prompt_toolkit.history import InMemoryHistory

            self.env.warning(f"input history not kept: cannot write {path}: {exc.strerror}")
            history = InMemoryHistory()
        return PromptSession(
            history=history,
            auto_suggest=AutoSuggestFromHistory(),
            completer=SlashCompleter(),
            complete_while_typing=True,
            key_bindings=keys,
            prompt_continuation=CONTINUATION,
            input=self._input,
            output=self._output,
        )


def private_file(path: Path) -> Path:
    """Create ``path`` (mode 0600, in a 0700 directory) if it does not exist."""
    ensure_private_dir(path.parent)
    fd = os.open(path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600)
    try:
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    return path


def warn_above_prompt(text: str) -> None:
    # While prompting, sys.stderr is prompt-toolkit's proxy, which prints
    # above the prompt and redraws it (from any thread).
    sys.stderr.write(f"agentcli: warning: {safe_text(text)}\n")
    sys.stderr.flush()
