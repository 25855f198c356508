"""Storage faults a user meets: exports onto existing files, disk full, read-only
databases and directories, sessions deleted mid-reply, SIGTERM mid-stream, and
the modes of the files agentcli keeps."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from agentcli import SqliteDb


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


# -- 4. exports to a file -----------------------------------------------------------
@pytest.fixture
def exportable(agentcli_home):
    db = SqliteDb(agentcli_home / "agentcli.db")
    run = db.start_run(db.ensure_session("tester", "t"), "hello", "m", "here:1:1")
    db.finish_run(run.pk, status="completed", messages=[{"role": "assistant", "content": "hi"}])
    db.add_memory("tester", "Likes tea.", actor="user")
    db.close()


EXPORTS = [("sessions", "export", "t"), ("memories", "export")]


@pytest.mark.parametrize("command", EXPORTS, ids=["sessions", "memories"])
def test_an_export_makes_a_new_0600_file_whatever_the_umask(cli, exportable, tmp_path, command):
    target = tmp_path / "out"
    old = os.umask(0)
    try:
        out = cli(*command, "-o", str(target))
    finally:
        os.umask(old)
    assert (out.exit_code, out.stdout) == (0, "")
    assert mode(target) == 0o600
    assert ("hello" if command[0] == "sessions" else "Likes tea.") in target.read_text()


@pytest.mark.parametrize("command", EXPORTS, ids=["sessions", "memories"])
def test_an_export_refuses_an_existing_file_unless_forced(cli, exportable, tmp_path, command):
    target = tmp_path / "out"
    target.write_text("keep me")
    target.chmod(0o644)
    out = cli(*command, "-o", str(target))
    assert (out.exit_code, out.stdout, out.stderr) == (
        2,
        "",
        f"agentcli: error: {target} already exists; pass --force to replace it\n",
    )
    assert (target.read_text(), mode(target)) == ("keep me", 0o644)
    forced = cli(*command, "-o", str(target), "--force")
    assert forced.exit_code == 0
    assert target.read_text() != "keep me"
    assert mode(target) == 0o600  # a new file, not the old one's mode
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "home") == ["out"]


@pytest.mark.parametrize("command", EXPORTS, ids=["sessions", "memories"])
@pytest.mark.parametrize("force", [False, True], ids=["plain", "forced"])
def test_an_export_never_follows_a_symlink(cli, exportable, tmp_path, command, force):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    link = tmp_path / "out"
    link.symlink_to(victim)
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    for target in (link, dangling):
        out = cli(*command, "-o", str(target), *(["--force"] if force else []))
        assert out.exit_code == 2, out
        assert out.stderr == (
            f"agentcli: error: {target} is a symbolic link; give the file itself\n"
        )
    assert victim.read_text() == "precious"
    assert not (tmp_path / "nowhere").exists()
    assert link.is_symlink() and dangling.is_symlink()


def test_memories_export_to_a_file_is_what_import_reads(cli, exportable, tmp_path):
    target = tmp_path / "mine.json"
    out = cli("memories", "export", "-o", str(target))
    assert out.stderr == f"exported 1 of tester's memories to {target}\n"
    assert [m["memory"] for m in json.loads(target.read_text())] == ["Likes tea."]
    assert cli("memories", "import", str(target), "-u", "bob").exit_code == 0
    bobs = json.loads(cli("memories", "export", "-o", "-", "-u", "bob").stdout)
    assert [(m["user_id"], m["memory"]) for m in bobs] == [("bob", "Likes tea.")]
