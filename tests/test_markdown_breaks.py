"""A reply's single line breaks survive Markdown in a terminal: live, printed, and stored."""

import io
import re

from chat_server import Text

from agentcli import views
from agentcli.render import Env, ReplyStream
from agentcli.services.sessions import session_with_messages

POEM = "Roses are red\nViolets are blue"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Tty(io.StringIO):
    def isatty(self):
        return True


def terminal():
    return Env(stdin=io.StringIO(), stdout=Tty(), stderr=Tty())


def lines(env):
    """The screen's text lines, styles and trailing blanks dropped."""
    text = ANSI.sub("", env.stdout.getvalue()).replace("\r", "")
    return [line.rstrip() for line in text.split("\n") if line.strip()]


def test_a_printed_reply_keeps_its_line_break():
    env = terminal()
    env.block(POEM)
    assert lines(env) == ["Roses are red", "Violets are blue"]


def test_a_streamed_reply_keeps_its_line_break():
    env = terminal()
    with ReplyStream(env) as shown:
        for piece in ("Roses are", " red\nViolets", " are blue"):
            shown.feed(piece)
    assert lines(env)[-2:] == ["Roses are red", "Violets are blue"]


def test_markdown_still_renders_around_kept_breaks():
    env = terminal()
    env.block("**Roses** are red\nViolets are blue\n\n- one\n  two\n\n```\ncode a\ncode b\n```")
    out = env.stdout.getvalue()
    assert "\x1b[1mRoses\x1b[0m" in out  # bold, not asterisks
    shown = lines(env)
    assert shown[:2] == ["Roses are red", "Violets are blue"]
    assert [s.strip() for s in shown[2:4]] == ["• one", "two"]
    assert [s.strip() for s in shown[4:]] == ["code a", "code b"]


def test_sessions_show_keeps_a_stored_replys_line_break(agent, db, server):
    server.script(Text(POEM))
    agent.run("a poem", user_id="sarah", session_id="t")
    env = terminal()
    found, messages = session_with_messages(db, "sarah", "t")
    views.show_session(env, found, messages)
    shown = lines(env)
    at = shown.index("Roses are red")
    assert shown[at + 1] == "Violets are blue"
