import io
import os
import sqlite3
import stat

import pytest
from chat_server import Text
from conftest import end_with_ctrl_d
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from agentcli import render, slash
from agentcli.config import Settings, history_path
from agentcli.render import Env
from agentcli.repl import Repl

ENTER, ALT_ENTER, CTRL_C = "\r", "\x1b\r", "\x03"
PROMPT = "›"


@pytest.fixture
def repl(agent, db):
    env = Env(stdin=io.StringIO(), stdout=io.StringIO(), stderr=io.StringIO())
    return Repl(env, db, agent, Settings(model="test-model"), user_id="sarah", session_id="t")


def typed(repl, keys):
    """Run the REPL on these keys (end of input = Ctrl-D); returns (stdout, stderr)."""
    with create_pipe_input() as pipe:
        pipe.send_text(keys)
        pipe.close()
        repl._input, repl._output = pipe, DummyOutput()
        repl.run()
    return repl.env.stdout.getvalue(), repl.env.stderr.getvalue()


@pytest.fixture
def db_rows(agentcli_home):
    def query(sql):
        conn = sqlite3.connect(agentcli_home / "agentcli.db")
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()

    return query


def runs(db):
    return db.execute("SELECT status FROM runs ORDER BY id").fetchall()


def test_a_message_gets_its_reply_and_the_header_names_everything(repl, server, db):
    out, err = typed(repl, "hello" + ENTER)
    assert out == (
        "agentcli · user sarah · session t · model test-model · memory agentic\n"
        "/help lists commands · Esc Enter: new line · Ctrl-D: leave\n"
        "echo: hello\n"
    )
    assert (err, runs(db)) == ("", [("completed",)])


def test_exit_command_leaves_before_later_input(repl, server):
    typed(repl, "/exit" + ENTER + "never sent" + ENTER)
    assert server.requests == []


def test_alt_enter_inserts_a_newline(repl, server):
    typed(repl, "first" + ALT_ENTER + "second" + ENTER)
    assert server.requests[0]["messages"][-1] == {"role": "user", "content": "first\nsecond"}


def test_ctrl_c_while_streaming_cancels_that_reply_only(repl, server, db, monkeypatch):
    server.script(Text("one two three four five six", chunk=4, delay=0.05))
    shown, interrupted = render.ReplyStream.feed, []

    def feed_then_interrupt_once(self, text):
        shown(self, text)
        if not interrupted:
            interrupted.append(text)
            raise KeyboardInterrupt

    monkeypatch.setattr(render.ReplyStream, "feed", feed_then_interrupt_once)
    out, err = typed(repl, "tell me" + ENTER + "again" + ENTER)
    assert (err, runs(db)) == ("cancelled\n", [("cancelled",), ("completed",)])
    assert db.execute("SELECT role, content FROM messages").fetchall() == [
        ("user", "tell me"),
        ("assistant", "one "),
        ("user", "again"),
        ("assistant", "echo: again"),
    ]
    assert [m["content"] for m in server.requests[1]["messages"][1:]] == ["again"]


def test_ctrl_c_at_the_prompt_is_harmless(repl, server, db):
    out, err = typed(repl, CTRL_C + "typed then cleared" + CTRL_C + "hello" + ENTER)
    assert (out.splitlines()[-1], err) == ("echo: hello", "")
    assert [r["messages"][-1]["content"] for r in server.requests] == ["hello"]


def test_entering_an_existing_session_shows_its_last_exchanges(repl, agent, server):
    for text in ("one", "two", "three", "four"):
        agent.run(text, user_id="sarah", session_id="t")
    out, _ = typed(repl, "")
    assert "… 1 run before these (/history N)\nuser · " in out
    assert "\ntwo\n\nassistant · " in out and "echo: four\n\n" in out
    assert "\none\n" not in out


def test_input_history_is_kept_per_user_in_a_private_file(repl, server, agentcli_home):
    typed(repl, "remember this line" + ENTER)
    path = history_path("sarah")
    assert path.parent.parent == agentcli_home
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert "+remember this line" in path.read_text()


def test_follow_up_work_finishes_before_the_repl_returns(repl, server):
    done = []

    class Follow:
        def window(self, session, n):
            return None, None, n

        def after_run(self, follow):
            done.append(follow.user_message)

    repl.agent.summarizer = Follow()
    typed(repl, "hi" + ENTER)
    assert done == ["hi"]


def test_a_failing_follow_up_warns_after_the_reply(repl, server):
    class Failing:
        def window(self, session, n):
            return None, None, n

        def after_run(self, follow):
            raise RuntimeError("the fold broke")

    repl.agent.summarizer = Failing()
    out, err = typed(repl, "hi" + ENTER + "again" + ENTER)
    assert out.endswith("echo: hi\necho: again\n")
    assert err == "agentcli: warning: summary failed: the fold broke\n" * 2


# -- slash commands, without a terminal --------------------------------------------
def said(repl, *lines):
    for line in lines:
        repl.handle(line)
    return repl.env.stdout.getvalue(), repl.env.stderr.getvalue()


def test_unknown_command_says_so(repl):
    assert said(repl, "/nope") == (
        "",
        "agentcli: error: unknown command /nope: /help lists the commands\n",
    )


def test_help_lists_every_registered_command(repl):
    out, _ = said(repl, "/help")
    assert out.splitlines()[:3] == [
        "COMMAND            WHAT IT DOES",
        "/help              List the commands and keys.",
        "/history [N]       Show the last N runs of this session (default 10).",
    ]
    assert all(f"/{name}" in out for name in slash.REGISTRY)


def test_history_shows_the_last_n_runs(repl, agent, server, db):
    agent.run("one", user_id="sarah", session_id="t")
    agent.run("two", user_id="sarah", session_id="t")
    out, _ = said(repl, "/history 1")
    at = [m.created_at[:10] + " " + m.created_at[11:16] + "Z" for m in db.session_messages(1)]
    assert out == f"user · {at[2]}\ntwo\n\nassistant · {at[3]} · test-model\necho: two\n\n"


def test_history_of_an_empty_session_and_a_bad_count(repl):
    assert said(repl, "/history", "/history x") == (
        "",
        "no messages in this session yet\nagentcli: error: usage: /history [N]\n",
    )


def test_new_switch_and_rename(repl, agent, server, db):
    agent.run("old thread", user_id="sarah", session_id="old")
    said(repl, "/new fresh", "/rename Tea talk", "/switch old")
    assert repl.session_id == "old"
    assert db.get_session("sarah", "fresh").name == "Tea talk"
    assert repl.env.stderr.getvalue() == (
        "new session: fresh\nrenamed fresh: Tea talk\nsession: old\n"
    )
    assert "\nold thread\n" in repl.env.stdout.getvalue()  # the recap of "old"


def test_new_without_id_generates_one_and_refuses_an_existing_id(repl, agent, server):
    agent.run("x", user_id="sarah", session_id="taken")
    said(repl, "/new taken", "/new")
    assert len(repl.session_id) == 12 and repl.session_id != "t"
    assert repl.env.stderr.getvalue().startswith(
        "agentcli: error: session taken exists: /switch taken to continue it\n"
    )


def test_switch_to_another_users_session_is_not_found(repl, agent, server):
    agent.run("bob's", user_id="bob", session_id="b")
    assert said(repl, "/switch b") == ("", "agentcli: error: no session 'b' for user 'sarah'\n")
    assert repl.session_id == "t"


def test_sessions_marks_the_current_one(repl, agent, server, db):
    agent.run("hello", user_id="sarah", session_id="t")
    out, _ = said(repl, "/sessions")
    when = db.get_session("sarah", "t").updated_at
    assert out == (
        f"SESSION  NAME   RUNS  LAST USED\n* t      hello  1     {when[:10]} {when[11:16]}Z\n"
    )


def test_sessions_says_when_the_list_is_cut(repl, agent, server):
    for n in range(3):
        agent.run("hello", user_id="sarah", session_id=f"s{n}")
    out, err = said(repl, "/sessions 2")
    assert (len(out.splitlines()), err) == (3, "2 of 3 sessions shown; /sessions 3 shows all\n")
    out, err = said(repl, "/sessions 3")
    assert (len(out.splitlines()), err.count("shown")) == (3 + 4, 1)


def test_usage_counts_the_session_tokens(repl, agent, server):
    result = agent.run("hello", user_id="sarah", session_id="t")
    out, _ = said(repl, "/usage")
    used = result.usage
    assert out == (
        f"session t: {used.input_tokens} input and {used.output_tokens} output tokens in 1 run\n"
    )


def test_double_slash_sends_a_line_starting_with_a_slash(repl, server):
    said(repl, "//etc/hosts is a file")
    assert server.requests[0]["messages"][-1]["content"] == "/etc/hosts is a file"


def test_completion_of_commands_and_session_ids(repl, agent, server):
    agent.run("x", user_id="sarah", session_id="thread-42")
    assert [c[0] for c in slash.completions(repl, "/s")] == ["/sessions", "/switch", "/summary"]
    assert slash.completions(repl, "/switch th") == [("thread-42", -2, "")]
    assert slash.completions(repl, "hello /s") == []


def test_a_new_command_needs_only_a_registration(repl, monkeypatch):
    monkeypatch.setattr(slash, "REGISTRY", dict(slash.REGISTRY))
    seen = []
    slash.command("ping", help="Answer pong.")(lambda r, arg: seen.append(arg))
    said(repl, "/ping  loud ")
    assert seen == ["loud"]


# -- end to end, in a real pseudo-terminal -------------------------------------------
def spawn(server, *args):
    import pexpect
    from conftest import AGENTCLI

    env = {**os.environ, "TERM": "xterm", "OPENAI_BASE_URL": server.url}
    env["PROMPT_TOOLKIT_NO_CPR"] = "1"  # nothing answers cursor-position requests here
    child = pexpect.spawn(
        AGENTCLI, list(args), env=env, dimensions=(24, 80), encoding="utf-8", timeout=30
    )
    child.logfile_read = io.StringIO()
    return child


def screen_lines(child):
    """What a person would see, scrollback included: the output through a terminal emulator."""
    import pyte

    screen = pyte.HistoryScreen(80, 24, history=1000)
    pyte.Stream(screen).feed(child.logfile_read.getvalue())
    scrolled = ["".join(row[x].data for x in range(80)) for row in screen.history.top]
    return [line.strip() for line in scrolled + screen.display if line.strip()]


def test_terminal_chat_cancel_exit_then_continue_in_a_new_process(server, db_rows):
    import pexpect

    server.script(Text("Hello Sarah"), Text("slow " * 200, chunk=5, delay=0.05))
    child = spawn(server, "chat", "-u", "sarah", "-s", "e2e")
    child.expect("session e2e")
    child.expect(PROMPT)
    child.send("My name is Sarah" + ENTER)
    child.expect("thinking")  # the spinner, before the first token
    child.expect("Hello Sarah")
    child.expect(PROMPT)
    child.send("count slowly" + ENTER)
    child.expect("slow slow")
    child.sendintr()
    child.expect("cancelled")
    child.expect(PROMPT)
    child.send("/exit" + ENTER)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert db_rows("SELECT status FROM runs ORDER BY id") == [("completed",), ("cancelled",)]
    shown = screen_lines(child)
    partial = shown[shown.index("› count slowly") + 1 : shown.index("cancelled")]
    stored = db_rows("SELECT content FROM messages WHERE id = 4")[0][0]
    assert " ".join(partial).split() == stored.split()  # no stale or repeated lines

    child = spawn(server, "chat", "-u", "sarah", "--continue")
    child.expect("My name is Sarah")  # the recap of the session
    child.expect("cancelled")
    child.expect(PROMPT)
    child.send("What is my name?" + ENTER)
    child.expect("echo: What is my name?")
    child.expect(PROMPT)
    end_with_ctrl_d(child)
    child.close()
    assert child.exitstatus == 0
    assert [(m["role"], m["content"]) for m in server.requests[-1]["messages"][1:]] == [
        ("user", "My name is Sarah"),
        ("assistant", "Hello Sarah"),
        ("user", "What is my name?"),
    ]

    # Tomorrow: find the thread again and export it, in the same terminal.
    child = spawn(server, "sessions", "search", "name", "-u", "sarah")
    child.expect(pexpect.EOF)
    found = screen_lines(child)
    assert any(line.startswith("e2e") and "name" in line for line in found)
    child = spawn(server, "sessions", "export", "e2e", "-u", "sarah", "--format", "md")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "My name is Sarah" in child.logfile_read.getvalue()


def test_terminal_reply_taller_than_the_screen_is_shown_whole_once(server):
    import pexpect

    lines = [f"- item {i}" for i in range(1, 61)]
    server.script(Text("\n".join(lines) + "\n\nThe end.", chunk=9, delay=0.005))
    child = spawn(server, "chat", "-s", "tall")
    child.expect(PROMPT)
    child.send("a long list" + ENTER)
    child.expect("The end.")
    child.expect(PROMPT)
    child.send("/exit" + ENTER)
    child.expect(pexpect.EOF)
    shown = screen_lines(child)
    assert [line for line in shown if line.startswith("• item")] == [
        f"• item {i}" for i in range(1, 61)
    ]


def test_summary_folds_the_session_and_prints_it(repl, server, db):
    server.script(Text("one"), Text("two"), Text("- Sarah likes tea."))
    out, _ = typed(repl, "a" + ENTER + "b" + ENTER + "/summary" + ENTER)
    assert out.endswith("two\n- Sarah likes tea.\n")
    assert "covers 2 runs" in repl.env.stderr.getvalue()
    assert db.execute("SELECT summary FROM sessions").fetchall() == [("- Sarah likes tea.",)]


def test_summary_show_calls_no_model(repl, server, db):
    server.script(Text("one"))
    typed(repl, "a" + ENTER + "/summary show" + ENTER)
    assert len(server.requests) == 1
    assert "no summary yet" in repl.env.stderr.getvalue()


def test_remember_then_memories_then_forget(repl, db):
    said(repl, "/remember Sarah prefers email over phone.")
    memory = db.list_memories("sarah")[0]
    out, err = said(repl, "/memories")
    assert out.splitlines() == [
        "ID  MEMORY                           TOPICS",
        f"{memory.id}   Sarah prefers email over phone.",
    ]
    said(repl, f"/forget {memory.id}")
    assert db.list_memories("sarah") == []
    assert err.splitlines()[0] == (
        f"memory added: Sarah prefers email over phone. (id {memory.id})"
    )
    assert repl.env.stderr.getvalue().splitlines()[-1] == (
        "memory deleted: Sarah prefers email over phone."
    )


def test_memories_query_searches(repl, db):
    said(repl, "/remember Likes tea.", "/remember Lives in Oslo.")
    out, _ = said(repl, "/memories oslo")
    assert "Lives in Oslo." in out and "tea" not in out


def test_forget_another_users_memory_is_not_found(repl, db):
    other, _ = db.add_memory("bob", "Bob's secret.", [], actor="user")
    _, err = said(repl, f"/forget {other.id}")
    assert "not found" in err or "no memory" in err
    assert [m.memory for m in db.list_memories("bob")] == ["Bob's secret."]


def test_forget_needs_a_number(repl):
    assert said(repl, "/forget x")[1] == (
        "agentcli: error: usage: /forget ID (a number; /memories lists them)\n"
    )


def test_superscript_digits_are_usage_errors_and_the_repl_goes_on(repl, server):
    out, err = typed(repl, "/forget ²" + ENTER + "/history ²" + ENTER + "/sessions ³" + ENTER)
    assert err.splitlines() == [
        "agentcli: error: usage: /forget ID (a number; /memories lists them)",
        "agentcli: error: usage: /history [N]",
        "agentcli: error: usage: /sessions [N]",
    ]


def test_automatic_memory_notice_shows_after_the_reply(model, db, server):
    from chat_server import ToolCalls

    from agentcli import Agent

    agent = Agent(model=model, db=db, update_memory_on_run=True)
    env = Env(stdin=io.StringIO(), stdout=io.StringIO(), stderr=io.StringIO())
    repl = Repl(
        env,
        db,
        agent,
        Settings(model="m", memory="automatic"),
        user_id="sarah",
        session_id="t",
    )
    server.script(
        Text("Noted."), ToolCalls([("add_memory", {"memory": "Sarah likes tea."})]), Text("done")
    )
    typed(repl, "I like tea." + ENTER)
    assert "memory added: Sarah likes tea." in env.stderr.getvalue()
    assert [m.memory for m in db.list_memories("sarah")] == ["Sarah likes tea."]


def test_a_count_out_of_range_is_a_usage_line(repl, agent, server):
    agent.run("hello", user_id="sarah", session_id="t")
    big = str(2**63)
    assert said(repl, f"/history {big}", f"/sessions {big}", "/history 0") == (
        "",
        "agentcli: error: usage: /history [N]; the number must be 1 to 1,000,000\n"
        "agentcli: error: usage: /sessions [N]; the number must be 1 to 1,000,000\n"
        "agentcli: error: usage: /history [N]; the number must be 1 to 1,000,000\n",
    )


def test_usage_flag_prints_the_counts_after_each_reply(agent, db, server):
    env = Env(stdin=io.StringIO(), stdout=io.StringIO(), stderr=io.StringIO())
    settings = Settings(model="test-model")
    repl = Repl(env, db, agent, settings, user_id="sarah", session_id="t", usage=True)
    said(repl, "hello", "/sessions", "again")
    stored = db.read_session(db.get_session("sarah", "t").pk).runs
    counts = [(r.run.input_tokens, r.run.output_tokens) for r in stored]
    assert len(counts) == 2 and all(i > 0 and o > 0 for i, o in counts)
    assert env.stderr.getvalue() == "".join(f"tokens: {i} in, {o} out\n" for i, o in counts)


def test_usage_flag_in_a_real_terminal(server):

    child = spawn(server, "chat", "-u", "sarah", "-s", "u", "--usage")
    child.expect(PROMPT)
    child.send("hello" + ENTER)
    child.expect(r"tokens: \d+ in, \d+ out")
    child.expect(PROMPT)
    end_with_ctrl_d(child)
    child.close()
    assert child.exitstatus == 0
