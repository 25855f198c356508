"""Storage faults a user meets: exports onto existing files, disk full, read-only
databases and directories, sessions deleted mid-reply, SIGTERM mid-stream, and
the modes of the files agentcli keeps."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from chat_server import last_user
from conftest import AGENTCLI

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


# -- 1. a full disk -------------------------------------------------------------------
def _namespaces_work() -> bool:
    """Whether this process may mount a file system of its own (a user namespace)."""
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
        capture_output=True,
    )
    return probe.returncode == 0


needs_mount = pytest.mark.skipif(
    not _namespaces_work(), reason="needs a user namespace to mount a small file system"
)

DISK_FULL_SCRIPT = r"""
set -u
mount -t tmpfs -o size=1m tmpfs "$DIR"
export AGENTCLI_HOME="$DIR/home"
step() { echo "== $1"; }
step start
"$AGENTCLI" memories add "Kept before." >/dev/null; echo "rc=$?"
"$AGENTCLI" chat -s t --memory off --no-summaries "first" >/dev/null 2>&1; echo "rc=$?"
head -c 65536 /dev/zero > "$DIR/spare"
head -c 2000000 /dev/zero > "$DIR/fill" 2>/dev/null
step full
for i in 1 2; do
  "$AGENTCLI" memories add "Fact $i." 2>&1; echo "rc=$?"
  "$AGENTCLI" chat -s t --memory off --no-summaries "second $i" 2>&1; echo "rc=$?"
done
rm "$DIR/spare"
step nearly
for i in 1 2; do
  head -c 300000 /dev/zero | tr '\0' x | "$AGENTCLI" chat -s t --memory off --no-summaries 2>&1
  echo "rc=$?"
done
rm "$DIR/fill"
step freed
"$AGENTCLI" memories add "Kept after." >/dev/null; echo "rc=$?"
"$AGENTCLI" chat -s t --memory off --no-summaries "third" 2>&1; echo "rc=$?"
"$AGENTCLI" memories list --json | grep -c '"memory"'
"$AGENTCLI" sessions show t --json | grep -c '"role"'
"""


@needs_mount
def test_a_full_disk_is_named_and_the_next_command_works_once_space_is_back(server, tmp_path):
    mounted = tmp_path / "small"
    mounted.mkdir()
    env = dict(os.environ, DIR=str(mounted), AGENTCLI=AGENTCLI)
    out = subprocess.run(
        ["unshare", "-rm", "sh", "-c", DISK_FULL_SCRIPT],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    db = mounted / "home" / "agentcli.db"
    steps = dict(part.split("\n", 1) for part in out.stdout.split("== ")[1:])
    assert steps["start"] == "rc=0\nrc=0\n", out
    full = steps["full"].splitlines()
    no_room = "no space left on the device"
    assert full[1::2] == ["rc=1"] * 4, out
    for line in full[0::2]:
        assert line.startswith(
            ("agentcli: error: cannot use database ", f"agentcli: error: database {db}")
        ), line
        assert line.endswith((f"{no_room}", f"{no_room} (the file was left as it is)")), line
    nearly = steps["nearly"].splitlines()
    assert (
        nearly
        == [
            f"agentcli: error: database {db}: database or disk is full: {no_room}",
            "rc=1",
        ]
        * 2
    ), out
    assert steps["freed"] == "rc=0\necho: third\nrc=0\n2\n4\n", out
    # Only the two chats that were stored reached the model.
    assert [last_user(r) for r in server.requests] == ["first", "third"]
