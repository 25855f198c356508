"""The one entry point: `main(argv) -> int` maps every failure to its line and exit status."""

import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from chat_server import Hang
from conftest import AGENTCLI

NOT_FOUND = "agentcli: error: no memory 7 for user 'sarah'\n"


def boom(exc: BaseException):
    def fail(*args, **kwargs):
        raise exc

    return fail


def test_an_expected_error_is_one_line_and_its_status(cli):
    assert cli("memories", "delete", "7", "-u", "sarah") == (1, "", NOT_FOUND)


def test_traceback_from_the_argv_given_to_main_keeps_the_status(cli, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["agentcli"])  # main reads its argv, not the process's
    out = cli("--traceback", "memories", "delete", "7", "-u", "sarah")
    assert out.exit_code == 1
    assert out.stderr.startswith("Traceback (most recent call last):\n")
    assert out.stderr.endswith(f"NotFoundError: no memory 7 for user 'sarah'\n{NOT_FOUND}")


def test_traceback_keeps_a_usage_status_of_2(cli):
    out = cli("--traceback", "memories", "search", " ", "-u", "sarah")
    assert out.exit_code == 2
    assert "Traceback" in out.stderr
    assert out.stderr.endswith("agentcli: error: the query is empty\n")


def test_agentcli_debug_shows_the_traceback_and_keeps_the_status(cli):
    out = cli("memories", "search", " ", "-u", "sarah", env={"AGENTCLI_DEBUG": "1"})
    assert out.exit_code == 2 and "Traceback" in out.stderr


def test_the_process_arguments_do_not_turn_on_tracebacks_for_main(cli, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["agentcli", "--traceback"])
    assert cli("memories", "delete", "7", "-u", "sarah") == (1, "", NOT_FOUND)


def test_an_unexpected_error_is_one_line_and_status_1(cli, monkeypatch):
    monkeypatch.setattr("agentcli.commands.config.config_path", boom(RuntimeError("no\x1b[2J")))
    assert cli("config", "path") == (
        1,
        "",
        "agentcli: error: unexpected RuntimeError: no\\x1b[2J "
        "(run again with --traceback for details)\n",
    )
    out = cli("--traceback", "config", "path")
    assert out.exit_code == 1 and "Traceback" in out.stderr


def test_ctrl_c_in_a_command_is_130(cli, monkeypatch):
    monkeypatch.setattr("agentcli.commands.config.config_path", boom(KeyboardInterrupt()))
    assert cli("config", "path").exit_code == 130


def test_a_usage_error_from_the_parser_shows_the_usage_and_is_2(cli):
    out = cli("--traceback", "memories", "delete", "x")
    assert out.exit_code == 2
    assert out.stderr.startswith("Usage: agentcli memories delete [OPTIONS] {memory_id}\n")
    assert "Invalid value for 'memory_id': 'x' is not a valid int" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize(
    "args",
    [("memories", "delete", "²"), ("memories", "history", "¹"), ("sessions", "list", "-n", "³")],
)
def test_superscript_digits_are_not_numbers(cli, args):
    out = cli(*args)
    assert out.exit_code == 2 and "is not a valid int" in out.stderr


def test_main_returns_the_status_of_an_exit(cli):
    cli("memories", "add", "Likes tea.", "-u", "sarah")
    assert cli("memories", "clear", "-u", "sarah").exit_code == 2  # no terminal, no --yes
    assert cli("--version").exit_code == 0


def test_the_readme_example_of_main_with_an_env(agentcli_home):
    import re
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    [example] = [b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "Env(" in b]
    done: dict = {}
    exec(example, done)
    assert (done["status"], done["out"].getvalue()) == (0, "[]\n")


# -- the installed console script ----------------------------------------------------
def script(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([AGENTCLI, *args], capture_output=True, timeout=60, **kwargs)


def test_the_console_script_exits_with_the_status_main_returns():
    assert script("--version").returncode == 0
    assert script("memories", "search", " ").returncode == 2
    failed = script("memories", "delete", "7", "-u", "sarah")
    assert (failed.returncode, failed.stderr) == (1, NOT_FOUND.encode())
    traced = script("--traceback", "memories", "delete", "7", "-u", "sarah")
    assert traced.returncode == 1
    assert traced.stderr.startswith(b"Traceback") and traced.stderr.endswith(NOT_FOUND.encode())


def test_a_reader_that_goes_away_ends_it_quietly(agentcli_home):
    from agentcli.adapters.sqlite import SqliteDb

    with SqliteDb(agentcli_home / "agentcli.db") as db:
        rows = [{"memory": f"Fact number {i} about the weather."} for i in range(5000)]
        db.import_memories("sarah", rows, actor="user")
    with subprocess.Popen(
        [AGENTCLI, "memories", "list", "-u", "sarah"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:
        proc.stdout.close()  # like `| head` that has read enough
        assert (proc.wait(timeout=60), proc.stderr.read()) == (1, b"")


def test_ctrl_c_while_waiting_for_the_model_exits_130(server, agentcli_home):
    server.script(Hang(30))
    with subprocess.Popen(
        [AGENTCLI, "chat", "-s", "t", "are you there?"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:
        deadline = time.monotonic() + 30
        while not server.requests and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert (proc.returncode, err.decode()[-27:]) == (130, "agentcli: error: cancelled\n")
    conn = sqlite3.connect(agentcli_home / "agentcli.db")
    assert conn.execute("SELECT status FROM runs").fetchall() == [("cancelled",)]
