import json
import sqlite3

from chat_server import Error, Text


def rows(home, sql):
    conn = sqlite3.connect(home / "agentcli.db")
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_piped_message_prints_the_reply_alone(run_cli, server):
    server.script(Text("**Email** is best."))
    out = run_cli("chat", "--user", "sarah", "--session", "thread-42", input="How to reach me?\n")
    assert (out.returncode, out.stdout.decode()) == (0, "**Email** is best.\n")
    assert server.requests[0]["messages"][-1] == {"role": "user", "content": "How to reach me?"}


def test_piped_text_loses_its_final_line_breaks(cli, server, agentcli_home):
    cli("chat", "-s", "s", input="  first line\n\nsecond line\r\n\n")
    assert server.requests[0]["messages"][-1]["content"] == "  first line\n\nsecond line"
    assert rows(agentcli_home, "SELECT content FROM messages WHERE role = 'user'") == [
        ("  first line\n\nsecond line",)
    ]


def test_the_words_of_the_message_are_joined(cli, server):
    out = cli("chat", "-s", "s", "hi", "there", "-u", "sarah", "friend")
    assert out.exit_code == 0, out.stderr
    assert server.requests[0]["messages"][-1]["content"] == "hi there friend"


def test_piped_text_and_argument_form_one_message(cli, server):
    cli("chat", "-s", "s", "Summarise this.", input="some text\n")
    assert server.requests[0]["messages"][-1]["content"] == "some text\n\nSummarise this."
    cli("chat", "-s", "s", "Summarise", "this.", input="more text\n\n")
    assert server.requests[-1]["messages"][-1]["content"] == "more text\n\nSummarise this."


def test_history_flows_from_one_invocation_to_the_next(cli, server):
    cli("chat", "-u", "sarah", "-s", "t", "I like tea.")
    cli("chat", "-u", "sarah", "-s", "t", "What do I like?")
    assert "I like tea." in json.dumps(server.requests[1])
    cli("chat", "-u", "bob", "-s", "t", "What do I like?")
    assert "I like tea." not in json.dumps(server.requests[2])


def test_json_output(cli, server):
    server.script(Text("hi there"))
    out = cli("chat", "-u", "sarah", "-s", "t", "-m", "test-model", "--json", "hello")
    data = json.loads(out.stdout)
    assert {k: data[k] for k in ("user_id", "session_id", "content", "model")} == {
        "user_id": "sarah",
        "session_id": "t",
        "content": "hi there",
        "model": "test-model",
    }
    assert data["usage"]["output_tokens"] == 2 and len(data["run_id"]) == 32


def test_new_session_id_is_printed_to_stderr(cli, server, agentcli_home):
    out = cli("chat", "hello")
    session = out.stderr.strip().removeprefix("session: ")
    assert rows(agentcli_home, "SELECT session_id FROM sessions") == [(session,)]


def test_continue_uses_the_latest_session(cli, server, agentcli_home):
    cli("chat", "-s", "old", "one")
    cli("chat", "-s", "new", "two")
    cli("chat", "-c", "three")
    assert "two" in json.dumps(server.requests[2]) and "one" not in json.dumps(server.requests[2])


def test_model_failure_exits_1_with_one_line_and_keeps_the_message(run_cli, server, agentcli_home):
    server.script(Error(400, "model not found"))
    out = run_cli("chat", "-s", "t", "precious words")
    err = out.stderr.decode()
    assert out.returncode == 1
    assert err.startswith(f"agentcli: error: model call to {server.url} failed: HTTP 400")
    assert err.count("\n") == 1 and "Traceback" not in err
    assert rows(agentcli_home, "SELECT status FROM runs") == [("error",)]
    assert rows(agentcli_home, "SELECT content FROM messages") == [("precious words",)]


def test_retries_after_injected_500s(cli, server):
    server.script(Error(500), Error(502), Text("recovered"))
    out = cli("chat", "-s", "t", "x")
    assert (out.exit_code, out.stdout) == (0, "recovered\n")


def test_empty_input_is_a_usage_error_and_calls_no_model(cli, server):
    out = cli("chat", "-s", "t", input="  \n ")
    assert out.exit_code == 2
    assert "message is empty" in out.stderr
    assert server.requests == []


def test_no_endpoint_configured_says_how(cli):
    out = cli("chat", "hello")
    assert out.exit_code == 2
    assert out.stderr == (
        "agentcli: error: no model endpoint configured: set OPENAI_API_KEY for OpenAI, or "
        "OPENAI_BASE_URL for any OpenAI-compatible server "
        "(e.g. http://localhost:11434/v1 for Ollama)\n"
    )


def test_negative_history_runs_is_a_usage_error(cli, server):
    out = cli("chat", "--history-runs", "-1", "x")
    assert out.exit_code == 2 and server.requests == []


def test_usage_flag_prints_tokens(cli, server):
    out = cli("chat", "-s", "t", "--usage", "hello")
    assert "tokens:" in out.stderr and " in, " in out.stderr


def test_db_option_selects_the_file(cli, server, tmp_path):
    target = tmp_path / "elsewhere.db"
    assert cli("--db", str(target), "chat", "-s", "t", "x").exit_code == 0
    assert sqlite3.connect(target).execute("SELECT count(*) FROM runs").fetchone() == (1,)


def test_newer_schema_database_is_refused(cli, server, tmp_path):
    target = tmp_path / "future.db"
    conn = sqlite3.connect(target)
    conn.execute("PRAGMA user_version = 42")
    conn.close()
    out = cli("--db", str(target), "chat", "x")
    assert out.exit_code == 1
    assert "newer than this agentcli" in out.stderr
    assert server.requests == []


def test_version(cli):
    out = cli("--version")
    assert out.stdout.startswith("agentcli ")


def test_python_dash_m(agentcli_home):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "agentcli", "--version"], capture_output=True)
    assert out.returncode == 0 and out.stdout.startswith(b"agentcli ")


def test_one_shot_in_a_terminal_renders_markdown_and_restores_echo(server):
    import io
    import os

    import pexpect
    from conftest import AGENTCLI

    server.script(Text("**bold** and `code`"))
    env = {**os.environ, "TERM": "xterm", "OPENAI_BASE_URL": server.url}
    child = pexpect.spawn(
        AGENTCLI,
        ["chat", "-s", "t", "hi"],
        env=env,
        dimensions=(24, 80),
        encoding="utf-8",
        timeout=30,
    )
    child.logfile_read = io.StringIO()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    shown = child.logfile_read.getvalue()
    assert "bold" in shown and "code" in shown
    assert "**bold**" not in shown and "`code`" not in shown  # Markdown was rendered
    assert "\x1b[" in shown  # rendered, not plain
