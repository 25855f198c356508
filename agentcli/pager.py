"""Long output in a terminal goes through a pager (``sessions show``).

Output is gathered as it would be drawn; when it is taller than the
terminal it is handed to ``$PAGER`` (default ``less -R``, which keeps the
colours), else written as it is. Piped output is never paged, and neither is
output when the pager cannot be started (it is written directly instead).
"""

from __future__ import annotations

import io
import os
import shlex
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from .render import Env

DEFAULT_PAGER = "less -R"


class _TerminalBuffer(io.StringIO):
    """Gathers what would be drawn on the terminal (so it is drawn for one)."""

    def isatty(self) -> bool:
        return True


def terminal_size(env: Env) -> os.terminal_size | None:
    try:
        return os.get_terminal_size(env.stdout.fileno())
    except (AttributeError, OSError, ValueError):
        return None


@contextmanager
def paged(env: Env, enabled: bool = True) -> Iterator[Env]:
    """An environment to draw into; what is drawn is paged when taller than the screen."""
    size = terminal_size(env) if enabled and env.stdout_isatty else None
    if size is None:
        yield env
        return
    buffer = _TerminalBuffer()
    drawn = Env(env.stdin, buffer, env.stderr, markdown=env.markdown, width=size.columns)
    yield drawn
    text = buffer.getvalue()
    if text.count("\n") < size.lines or not page(text):
        env.stdout.write(text)
        env.stdout.flush()


def pager_command() -> list[str]:
    """``$PAGER`` as a command line, else ``less -R``; empty when ``PAGER`` is empty."""
    chosen = os.environ.get("PAGER")
    try:
        return shlex.split(DEFAULT_PAGER if chosen is None else chosen)
    except ValueError:
        return shlex.split(DEFAULT_PAGER)


def page(text: str) -> bool:
    """Show ``text`` through the pager; ``False`` when there is none to start."""
    command = pager_command()
    if not command or command == ["cat"]:
        return False
    env = dict(os.environ)
    env.setdefault("LESS", "FRX")  # quit at the end of a short text, keep colours
    try:
        process = subprocess.Popen(command, stdin=subprocess.PIPE, env=env)
    except OSError:
        return False
    # Ctrl-C belongs to the pager (less uses it) while it runs.
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
    try:
        assert process.stdin is not None
        try:
            process.stdin.write(text.encode("utf-8", "replace"))
            process.stdin.close()
        except BrokenPipeError:  # the pager was left before reading it all
            pass
        process.wait()
    finally:
        if main:
            signal.signal(signal.SIGINT, previous)
    return True
