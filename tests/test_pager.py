"""``sessions show`` pages through ``$PAGER`` in a terminal when taller than the screen."""

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios

import pytest
from conftest import AGENTCLI

from agentcli.adapters.sqlite import SqliteDb
from agentcli.core.records import Usage

# A pager that keeps what it was given, and the size of the terminal it ran in.
PAGER = """
import os, sys
data = sys.stdin.buffer.read()
with open(sys.argv[1], "wb") as fh:
    fh.write(data)
"""


@pytest.fixture
def pager(tmp_path, monkeypatch):
    script = tmp_path / "pager.py"
    script.write_text(PAGER)
    got = tmp_path / "paged.txt"
    monkeypatch.setenv("PAGER", f"{sys.executable} {script} {got}")
    return got


def session(home, name, runs):
    db = SqliteDb(home / "agentcli.db")
    for n in range(runs):
        found = db.ensure_session("tester", name)
        run = db.start_run(found, f"question {n}", "test-model", "host:1:1")
        reply = {"role": "assistant", "content": f"answer {n}"}
        db.finish_run(run.pk, status="completed", messages=[reply], usage=Usage(1, 1, 1))
    db.close()


def in_terminal(*args, rows=12, columns=80):
    """Run agentcli with a real pty of ``rows`` x ``columns`` as its terminal; its output."""
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    process = subprocess.Popen(
        [AGENTCLI, *args], stdin=child, stdout=child, stderr=child, close_fds=True
    )
    os.close(child)
    out = b""
    while True:
        ready, _, _ = select.select([main], [], [], 30)
        if not ready:
            break
        try:
            data = os.read(main, 65536)
        except OSError:  # the terminal closed with the process
            break
        if not data:
            break
        out += data
    process.wait(timeout=30)
    os.close(main)
    assert process.returncode == 0, out
    return out.decode("utf-8", "replace")


def test_a_session_taller_than_the_terminal_goes_through_the_pager(agentcli_home, pager):
    session(agentcli_home, "long", 10)
    shown = in_terminal("sessions", "show", "long")
    paged = pager.read_text()
    assert "question 0" in paged and "answer 9" in paged
    assert "question 0" not in shown  # nothing drawn besides the pager's own output


def test_a_short_session_is_written_directly(agentcli_home, pager):
    session(agentcli_home, "short", 1)
    shown = in_terminal("sessions", "show", "short")
    assert "question 0" in shown and "answer 0" in shown
    assert not pager.exists()


def test_no_pager_writes_a_long_session_directly(agentcli_home, pager):
    session(agentcli_home, "long", 10)
    shown = in_terminal("sessions", "show", "long", "--no-pager")
    assert "question 0" in shown and "answer 9" in shown
    assert not pager.exists()


def test_piped_output_is_never_paged(agentcli_home, pager, run_cli):
    session(agentcli_home, "long", 10)
    out = run_cli("sessions", "show", "long", env={"LINES": "5", "COLUMNS": "40"})
    assert out.returncode == 0 and out.stdout.decode().count("answer") == 10
    assert not pager.exists()


def test_a_pager_that_cannot_start_leaves_the_output_written(agentcli_home, monkeypatch):
    session(agentcli_home, "long", 10)
    monkeypatch.setenv("PAGER", "/nonexistent/pager")
    shown = in_terminal("sessions", "show", "long")
    assert "question 0" in shown and "answer 9" in shown
