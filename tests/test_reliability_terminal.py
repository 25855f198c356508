"""Terminal safety: model text with escape sequences or Rich markup is never interpreted."""

import io
import re

import pytest
from chat_server import Error, Text

from agentcli.render import Env, ReplyStream, safe_text

# Sequences Rich itself never writes: a window title (OSC 0), a hyperlink the
# model made (OSC 8), a true-colour escape, a C1 CSI clearing the screen,
# then Rich markup that must stay text.
EVIL = (
    "Title\x1b]0;pwned\x07 link \x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\ "
    "\x1b[38;2;1;2;3mcolour\x1b[0m \x9b2J [bold red]alert[/bold red] "
    "[link=https://evil.example]here[/link]"
)
RAW_BITS = ["\x1b]", "\x07", "\x9b", "\x1b[38;2;1;2;3m", "\x1b\\"]
CSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")  # Rich's own cursor and style codes


class Terminal(io.StringIO):
    """A StringIO that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def terminal_env(**kw) -> tuple[Env, Terminal]:
    out = Terminal()
    return Env(stdin=io.StringIO(), stdout=out, stderr=Terminal(), **kw), out


def stream(env: Env, text: str, size: int = 5) -> None:
    with ReplyStream(env) as shown:
        for start in range(0, len(text), size):
            shown.feed(text[start : start + size])


def visible(output: str) -> str:
    return " ".join(CSI.sub("", output).split())


def test_safe_text_makes_control_characters_visible():
    assert safe_text("a\x1b[2Jb\x07c\x9bd\te\nf") == "a\\x1b[2Jb\\x07c\\x9bd\te\nf"


def test_rich_streaming_shows_escapes_and_markup_literally(monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")
    env, out = terminal_env()
    assert env.rich_output
    stream(env, EVIL)
    raw = out.getvalue()
    assert [bit for bit in RAW_BITS if bit in raw] == []
    shown = visible(raw)
    assert "Title\\x1b]0;pwned\\x07 link \\x1b]8;;https://evil.example" in shown
    assert "\\x1b[38;2;1;2;3mcolour" in shown and "\\x9b2J" in shown
    assert "[bold red]alert[/bold red] [link=https://evil.example]here[/link]" in shown


@pytest.mark.parametrize("kw,env_var", [({"markdown": False}, None), ({}, "NO_COLOR")])
def test_plain_output_in_a_terminal_is_made_inert_too(monkeypatch, kw, env_var):
    if env_var:
        monkeypatch.setenv(env_var, "1")
    env, out = terminal_env(**kw)
    assert not env.rich_output
    stream(env, EVIL)
    assert out.getvalue() == safe_text(EVIL) + "\n"


def test_piped_output_is_the_reply_unchanged(run_cli, server):
    server.script(Text(EVIL, chunk=3))
    out = run_cli("chat", "-s", "t", "x")
    assert (out.returncode, out.stdout.decode()) == (0, EVIL + "\n")


def test_escapes_in_an_error_from_the_server_are_made_inert(run_cli, server):
    server.script(Error(400, "bad \x1b]0;pwned\x07 [bold]request[/bold]"))
    out = run_cli("chat", "-s", "t", "x")
    assert out.stderr.decode() == (
        f"agentcli: error: model call to {server.url} failed: HTTP 400 bad \\x1b]0;pwned\\x07 "
        "[bold]request[/bold] (your message was kept in session t)\n"
    )


def test_notices_warnings_and_errors_are_inert():
    err = io.StringIO()
    env = Env(stdin=io.StringIO(), stdout=io.StringIO(), stderr=err)
    env.info("memory added: \x1b[2J")
    env.warning("summary failed: \x9b6n")
    env.error("\x1b]52;c;Y29weQ==\x07")
    assert err.getvalue() == (
        "memory added: \\x1b[2J\n"
        "agentcli: warning: summary failed: \\x9b6n\n"
        "agentcli: error: \\x1b]52;c;Y29weQ==\\x07\n"
    )


def test_a_dim_notice_in_a_terminal_shows_markup_literally():
    env, _ = terminal_env()
    env.info("[red]not red[/red] \x1b[5m")
    assert visible(env.stderr.getvalue()) == "[red]not red[/red] \\x1b[5m"


def test_direction_overrides_are_shown_as_escapes():
    from agentcli.render import safe_text

    assert safe_text("abc\u202edef\u2066") == "abc\\u202edef\\u2066"
