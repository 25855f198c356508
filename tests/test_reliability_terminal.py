"""Terminal safety: model text with escape sequences or Rich markup is never interpreted."""

import io
import json
import os
import re
from pathlib import Path

import pytest
from chat_server import Error, Text

from agentcli import views
from agentcli.adapters.sqlite import SqliteDb
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


def test_escapes_in_an_error_from_the_server_are_made_inert(cli, server):
    server.script(Error(400, "bad \x1b]0;pwned\x07 [bold]request[/bold]"))
    out = cli("chat", "-s", "t", "x")
    assert out.stderr == (
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


# -- every data view: stored text and ids with escapes and markup ------------------
# Session and user ids, names, messages, tool calls, summaries, memories, topics
# and memory histories all hold EVIL. In a terminal nothing of it is interpreted;
# piped, the data outputs pass it through unchanged (tables make it visible).
USER = f"eve {EVIL}"
SESSION = f"s {EVIL}"
SHOWN = ["\\x1b]0;pwned\\x07", "\\x1b[38;2;1;2;3mcolour", "\\x9b2J", "[bold red]alert[/bold red]"]


@pytest.fixture
def evil(agentcli_home):
    """One session of USER full of EVIL, with a summary, and one memory with a history."""
    db = SqliteDb(agentcli_home / "agentcli.db")
    session = db.ensure_session(USER, SESSION)
    call = {"id": "c1", "type": "function", "function": {"name": "add_memory", "arguments": EVIL}}
    first = db.start_run(session, EVIL, "m", "here:1:1")
    db.finish_run(
        first.pk,
        status="completed",
        messages=[
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "c1", "content": EVIL},
            {"role": "assistant", "content": EVIL},
        ],
    )
    cut = db.start_run(session, EVIL, "m", "here:1:1")
    db.finish_run(cut.pk, status="error", messages=[{"role": "assistant", "content": EVIL}])
    db.rename_session(USER, SESSION, EVIL)
    db.set_summary(session.pk, EVIL, through_pk=first.pk, expected_through=None)
    memory, _ = db.add_memory(USER, f"Eve wrote {EVIL}", [EVIL], actor="user")
    db.update_memory(USER, memory.id, memory=f"Eve now writes {EVIL}", actor="agent")
    db.close()
    return memory.id


def invoke(env: Env, *args: str):
    from agentcli.cli import main

    assert main(list(args), env) == 0, env.stderr.getvalue()
    return env.stdout.getvalue(), env.stderr.getvalue()


TEXT_VIEWS = {
    "sessions-list": ("sessions", "list", "-u", USER),
    "sessions-list-all-users": ("sessions", "list", "--all-users"),
    "sessions-show": ("sessions", "show", SESSION, "-u", USER),
    "sessions-search": ("sessions", "search", "pwned", "-u", USER),
    "sessions-search-all-users": ("sessions", "search", "pwned", "--all-users"),
    "sessions-export-md": ("sessions", "export", SESSION, "-u", USER),
    "sessions-rename": ("sessions", "rename", SESSION, EVIL, "-u", USER),
    "sessions-delete": ("sessions", "delete", SESSION, "-u", USER, "--yes"),
    "memories-list": ("memories", "list", "-u", USER),
    "memories-search": ("memories", "search", "alert", "-u", USER),
    "memories-history": ("memories", "history", "1", "-u", USER),
    "memories-clear": ("memories", "clear", "-u", USER, "--yes"),
    "summarize-show": ("summarize", "-s", SESSION, "-u", USER, "--show"),
}
# Tables cut long cells with an ellipsis (ids at 40 columns, other cells but a
# row's last at 100), so there only the start of EVIL is shown: literally.
CUT_VIEWS = {"sessions-list", "sessions-list-all-users", "sessions-search"}
CUT_VIEWS |= {"sessions-search-all-users"}
CUT_VIEWS |= {"memories-list", "memories-search"}
JSON_VIEWS = {
    "sessions-list": ("sessions", "list", "-u", USER, "--json"),
    "sessions-show": ("sessions", "show", SESSION, "-u", USER, "--json"),
    "sessions-search": ("sessions", "search", "pwned", "-u", USER, "--json"),
    "sessions-export-json": ("sessions", "export", SESSION, "-u", USER, "--format", "json"),
    "memories-list": ("memories", "list", "-u", USER, "--json"),
    "memories-history": ("memories", "history", "1", "-u", USER, "--json"),
    "memories-export": ("memories", "export", "-u", USER),
    "summarize-show": ("summarize", "-s", SESSION, "-u", USER, "--show", "--json"),
}


@pytest.mark.parametrize("no_color", [False, True], ids=["colour", "NO_COLOR"])
@pytest.mark.parametrize("view", TEXT_VIEWS)
def test_every_view_in_a_terminal_shows_stored_escapes_and_markup_literally(
    evil, monkeypatch, view, no_color
):
    args = TEXT_VIEWS[view]
    monkeypatch.setenv("COLUMNS", "1000")
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    env, _ = terminal_env()
    out, err = invoke(env, *args)
    raw = out + err
    assert [bit for bit in RAW_BITS if bit in raw] == []
    shown = visible(raw)
    expected = SHOWN[:1] + ["…"] if view in CUT_VIEWS else SHOWN
    assert [piece for piece in expected if piece not in shown] == []


@pytest.mark.parametrize("args", JSON_VIEWS.values(), ids=JSON_VIEWS)
def test_json_in_a_terminal_is_inert_and_means_exactly_what_is_stored(evil, args):
    env, _ = terminal_env()
    out, _ = invoke(env, *args)
    assert [bit for bit in [*RAW_BITS, "\x1b", "\u202e"] if bit in out] == []
    assert any(EVIL in text for text in strings(json.loads(out)))


def strings(data) -> list[str]:
    """Every string in a JSON value."""
    if isinstance(data, str):
        return [data]
    if isinstance(data, dict):
        data = list(data.values())
    return [s for item in data for s in strings(item)] if isinstance(data, list) else []


def piped(*args: str) -> str:
    env = Env(stdin=io.StringIO(), stdout=io.StringIO(), stderr=io.StringIO())
    return invoke(env, *args)[0]


def test_piped_data_outputs_pass_stored_text_through_unchanged(evil):
    assert piped("summarize", "-s", SESSION, "-u", USER, "--show") == EVIL + "\n"
    shown = piped("sessions", "show", SESSION, "-u", USER).splitlines()
    assert shown[:2] == [f"{SESSION} · {EVIL}", f"user {USER} · 2 runs"]
    preview = views.TOOL_PREVIEW_CHARS
    assert [line for line in shown[2:] if "pwned" in line] == [
        EVIL,  # the summary
        EVIL,  # the first message
        f"→ {views.one_line(f'add_memory({EVIL})', preview)}",
        f"← {views.one_line(EVIL, preview)}",
        EVIL,  # the reply
        EVIL,  # the second message, whose reply was cut
        EVIL,  # the partial reply
    ]
    exported = piped("sessions", "export", SESSION, "-u", USER)
    assert exported.startswith(f"# {EVIL}\n\n- user: {USER}\n- session: {SESSION}\n")
    assert f"Tool call `add_memory`: `{EVIL}`" in exported
    document = json.loads(piped("sessions", "export", SESSION, "-u", USER, "--format", "json"))
    assert {m["content"] for m in document["messages"]} == {EVIL, None}
    assert document["summary"] == document["name"] == EVIL
    [memory] = json.loads(piped("memories", "export", "-u", USER))
    assert (memory["user_id"], memory["memory"]) == (USER, f"Eve now writes {EVIL}")


def test_piped_tables_show_control_characters_as_escapes(evil):
    for args in (
        ("sessions", "list", "-u", USER),
        ("sessions", "search", "pwned", "-u", USER),
        ("memories", "list", "-u", USER),
        ("memories", "history", "1", "-u", USER),
    ):
        out = piped(*args)
        assert [bit for bit in RAW_BITS if bit in out] == []
        assert "\\x1b]0;pwned\\x07" in out


def test_confirmation_questions_are_inert(evil, monkeypatch):
    import typer

    asked = []
    monkeypatch.setattr(typer, "confirm", lambda text, default: asked.append(text) or False)
    env, _ = terminal_env()
    env.stdin = Terminal()
    from agentcli.appstate import AppState
    from agentcli.commands.common import confirm

    confirm(AppState(env), f"Delete session {SESSION}?", yes=False)
    assert asked == [f"Delete session {safe_text(SESSION)}?"]


# -- the REPL ---------------------------------------------------------------------
def test_repl_recap_history_sessions_and_memories_show_stored_text_literally(
    evil, server, monkeypatch
):
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    from agentcli import Agent, OpenAIChat
    from agentcli.config import Settings
    from agentcli.repl import Repl

    monkeypatch.setenv("COLUMNS", "1000")
    env, out = terminal_env()
    db = SqliteDb(Path(os.environ["AGENTCLI_HOME"]) / "agentcli.db")
    agent = Agent(model=OpenAIChat("m", base_url=server.url), db=db)
    repl = Repl(env, db, agent, Settings(model="m"), user_id=USER, session_id=SESSION)
    with create_pipe_input() as pipe:
        pipe.send_text(f"/history\r/sessions\r/summary show\r/memories\r/memories alert\r{HUGE}")
        pipe.close()
        repl._input, repl._output = pipe, DummyOutput()
        repl.run()
    db.close()
    raw = out.getvalue() + env.stderr.getvalue()
    assert [bit for bit in RAW_BITS if bit in raw] == []
    shown = visible(raw)
    assert [piece for piece in SHOWN if piece not in shown] == []
    assert shown.count("[bold red]alert[/bold red]") >= 10  # header, recap, history, sessions…
    assert f"agentcli: error: no memory {'9' * 30} for user " in shown  # not a crash


HUGE = f"/forget {'9' * 30}\r"  # beyond SQLite's integers


def test_repl_warnings_above_the_prompt_are_inert(capsys):
    from agentcli.repl import warn_above_prompt

    warn_above_prompt("memory update failed: \x1b]0;pwned\x07 [bold]x[/bold]")
    assert capsys.readouterr().err == (
        "agentcli: warning: memory update failed: \\x1b]0;pwned\\x07 [bold]x[/bold]\n"
    )


def test_repl_in_a_real_terminal_never_sets_the_title_or_colours_from_stored_text(evil, server):
    import pexpect
    import pyte
    from conftest import AGENTCLI, end_with_ctrl_d

    env = {**os.environ, "TERM": "xterm", "OPENAI_BASE_URL": server.url}
    env["PROMPT_TOOLKIT_NO_CPR"] = "1"
    child = pexpect.spawn(
        AGENTCLI,
        ["chat", "-u", USER, "-s", SESSION],
        env=env,
        dimensions=(50, 200),
        encoding="utf-8",
        timeout=30,
    )
    child.logfile_read = io.StringIO()
    child.expect("›")
    child.send("/history 1\r")
    child.expect("›")
    child.send("/sessions\r")
    child.expect("›")
    end_with_ctrl_d(child)
    child.close()
    assert child.exitstatus == 0
    screen = pyte.HistoryScreen(200, 50, history=1000)
    pyte.Stream(screen).feed(child.logfile_read.getvalue())
    lines = ["".join(row[x].data for x in range(200)) for row in screen.history.top]
    text = "\n".join(lines + screen.display)
    assert screen.title == ""
    assert text.count("[bold red]alert[/bold red]") >= 4
    assert "\\x1b]0;pwned\\x07" in text


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_status_spinner_only_on_a_terminal():
    import time

    from agentcli.render import Env

    tty, pipe = _Tty(), io.StringIO()
    with Env(stderr=tty).status("updating memory…"):
        time.sleep(0.3)
    with Env(stderr=pipe).status("updating memory…"):
        pass
    assert "updating memory…" in tty.getvalue() and pipe.getvalue() == ""


def test_markdown_links_show_their_target():
    from rich.console import Console

    from agentcli.render import markdown

    out = io.StringIO()
    Console(file=out, force_terminal=True, width=80).print(
        markdown("see [docs](https://evil.example/x) now")
    )
    assert "https://evil.example/x" in out.getvalue()
    assert "\x1b]8;" not in out.getvalue()  # no hidden OSC 8 hyperlink
