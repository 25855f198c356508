"""The interactive REPL (prompt-toolkit): input, slash commands, streaming replies.

I/O only: runs go through :class:`agentcli.agent.Agent`, data through the store,
drawing through ``render``/``views``, commands through ``slash``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import slash, views
from .config import data_dir, ensure_private_dir, history_path
from .core.errors import AgentCliError, RunCancelled
from .core.records import Session
from .render import ReplyStream, safe_text

if TYPE_CHECKING:
    from .commands.common import AppState
    from .config import Settings
    from .services.agent import Agent

PROMPT = "› "
CONTINUATION = "… "
# Runs shown when entering a session that already has some.
RECAP_RUNS = 3
# Recent results watched for memory notices arriving after the reply.
NOTICE_RESULTS = 5


class Repl:
    """One interactive chat: who, which session, and the loop around the prompt.

    ``input``/``output`` are prompt-toolkit's (tests pass a pipe input and a
    dummy output); everything else is written through ``st.env``.
    """

    def __init__(
        self,
        st: AppState,
        agent: Agent,
        settings: Settings,
        *,
        user_id: str,
        session_id: str,
        input: Any = None,
        output: Any = None,
    ):
        self.env = st.env
        self.db = st.db()
        self.agent = agent
        self.settings = settings
        self.user_id = user_id
        self.session_id = session_id
        self.done = False
        self._input = input
        self._output = output
        self._prompting = False
        # Results whose memory notices may still grow (the automatic memory
        # manager adds to them in the background), with how many were shown.
        self._notices: list[tuple[list[str], int]] = []

    # -- state used by slash commands ------------------------------------------
    def current(self) -> Session | None:
        return self.db.get_session(self.user_id, self.session_id)

    def switch(self, session_id: str) -> None:
        self.session_id = session_id

    # -- what is shown ------------------------------------------------------------
    def header(self) -> None:
        s = self.settings
        self.env.line(
            f"agentcli · user {self.user_id} · session {self.session_id} · "
            f"model {s.model} · memory {s.memory}",
            "bold",
        )
        self.env.line("/help lists commands · Esc Enter: new line · Ctrl-D: leave", "dim")

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
        try:
            with ReplyStream(self.env) as shown:
                result = self.agent.run(
                    message,
                    user_id=self.user_id,
                    session_id=self.session_id,
                    on_text=shown.feed,
                    background=True,
                )
                if not shown.parts and result.content:
                    shown.feed(result.content)
        except (RunCancelled, KeyboardInterrupt):
            self.env.info("cancelled")
            return
        self._notices.append((result.memory_changes, 0))
        self.show_notices()

    def show_notices(self) -> None:
        """Dim one-liners for memory changes not shown yet, including background ones."""
        kept = []
        for changes, shown in self._notices[-NOTICE_RESULTS:]:
            for change in changes[shown:]:
                self.env.info(change)
            kept.append((changes, len(changes)))
        self._notices = kept

    # -- the loop ----------------------------------------------------------------------
    def run(self) -> None:
        prompt = self._prompt_session()
        self.agent.on_warning = self._warning
        self.header()
        self.recap()
        try:
            while not self.done:
                self.show_notices()
                try:
                    line = self._read(prompt)
                except KeyboardInterrupt:
                    continue  # Ctrl-C at the prompt clears the line
                except EOFError:
                    break
                self.handle(line)
        finally:
            self.agent.wait()
            self.show_notices()

    def _read(self, prompt: Any) -> str:
        if self._input is not None:
            return prompt.prompt(PROMPT)
        from prompt_toolkit.patch_stdout import patch_stdout

        # Warnings from follow-up work print above the prompt instead of through it.
        with patch_stdout(raw=True):
            self._prompting = True
            try:
                return prompt.prompt(PROMPT)
            finally:
                self._prompting = False

    def _warning(self, text: str) -> None:
        if self._prompting:
            sys.stderr.write(f"agentcli: warning: {safe_text(text)}\n")
            sys.stderr.flush()
        else:
            self.env.warning(text)

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

        ensure_private_dir(data_dir())
        return PromptSession(
            history=FileHistory(str(private_file(history_path(self.user_id)))),
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


def run_repl(
    st: AppState, agent: Agent, settings: Settings, *, user_id: str, session_id: str
) -> None:
    """Chat interactively until Ctrl-D or ``/exit``."""
    Repl(st, agent, settings, user_id=user_id, session_id=session_id).run()
