"""Storage faults a user meets: exports onto existing files, disk full, read-only
databases and directories, sessions deleted mid-reply, SIGTERM mid-stream, and
the modes of the files agentcli keeps."""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from chat_server import last_user
from conftest import AGENTCLI
from scripted_model import Text

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
"$AGENTCLI" sessions show t --json | grep -c '"status"'
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


# -- 3. a read-only database, 6. read commands create nothing ---------------------------
def files_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _drop_root_file_powers() -> None:
    """In the child: as root, lose the power to ignore file permissions."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def unprivileged(*args: str, home: Path, input: str = "") -> subprocess.CompletedProcess:
    """``agentcli`` as a process that file permissions apply to (even under root)."""
    return subprocess.run(
        [AGENTCLI, *args],
        input=input,
        capture_output=True,
        text=True,
        env=dict(os.environ, AGENTCLI_HOME=str(home)),
        timeout=60,
        preexec_fn=_drop_root_file_powers if os.geteuid() == 0 else None,
    )


@pytest.fixture
def restore_modes():
    """Paths whose mode a test changes, made 0700 again for clean-up."""
    changed: list[Path] = []
    yield changed
    for path in changed:
        path.chmod(0o700)


@pytest.fixture
def stored(agentcli_home):
    """A database in the data directory with session "t" (one run) and one memory."""
    path = agentcli_home / "agentcli.db"
    db = SqliteDb(path)
    run = db.start_run(db.ensure_session("tester", "t"), "hello", "m", "here:1:1")
    db.finish_run(run.pk, status="completed", messages=[{"role": "assistant", "content": "hi"}])
    db.add_memory("tester", "Likes tea.", actor="user")
    db.close()
    return path


READS = [
    ("sessions", "list"),
    ("sessions", "show", "t"),
    ("sessions", "search", "hello"),
    ("sessions", "export", "t"),
    ("memories", "list"),
    ("memories", "search", "tea"),
    ("memories", "history", "1"),
    ("memories", "export"),
    ("db", "info"),
    ("summarize", "-s", "t", "--show"),
]
# Commands that change what is stored, with nothing to change in a database not made yet.
CHANGES_TO_NOTHING = [
    ("sessions", "rename", "t", "New name"),
    ("sessions", "delete", "t", "--yes"),
    ("memories", "edit", "1", "Likes coffee."),
    ("memories", "delete", "1"),
    ("memories", "clear", "--yes"),
]


def test_a_read_only_database_is_read_without_side_files_and_written_again_after_chmod(
    server, agentcli_home, stored, restore_modes
):
    before = digest(stored)
    stored.chmod(0o400)
    restore_modes.append(stored)
    for command in READS:
        out = unprivileged(*command, home=agentcli_home)
        assert (out.returncode, files_in(agentcli_home)) == (0, ["agentcli.db"]), (command, out)
    listed = unprivileged("sessions", "list", "--json", home=agentcli_home)
    assert [s["session_id"] for s in json.loads(listed.stdout)] == ["t"]
    refused = "attempt to write a readonly database (the file is not writable; nothing was changed)"
    for command in (("chat", "-s", "t", "more"), ("memories", "add", "Likes coffee.")):
        out = unprivileged(*command, home=agentcli_home)
        assert (out.returncode, out.stdout, out.stderr) == (
            1,
            "",
            f"agentcli: error: database {stored}: {refused}\n",
        ), command
    assert (digest(stored), files_in(agentcli_home), server.requests) == (
        before,
        ["agentcli.db"],
        [],
    )
    stored.chmod(0o600)  # no repair by hand needed
    assert unprivileged("chat", "-s", "t", "more", home=agentcli_home).returncode == 0
    assert unprivileged("memories", "add", "Likes coffee.", home=agentcli_home).returncode == 0
    assert last_user(server.requests[-1]) == "more"


def test_read_commands_work_in_a_read_only_data_directory(
    server, agentcli_home, stored, restore_modes
):
    before = digest(stored)
    agentcli_home.chmod(0o500)
    restore_modes.append(agentcli_home)
    for command in READS:
        out = unprivileged(*command, home=agentcli_home)
        assert (out.returncode, files_in(agentcli_home)) == (0, ["agentcli.db"]), (command, out)
    shown = unprivileged("memories", "list", "--json", home=agentcli_home)
    assert [m["memory"] for m in json.loads(shown.stdout)] == ["Likes tea."]
    out = unprivileged("chat", "-s", "t", "more", home=agentcli_home)
    assert (out.returncode, out.stderr) == (
        1,
        f"agentcli: error: database {stored}: attempt to write a readonly database "
        "(its directory is not writable; nothing was changed)\n",
    )
    assert (digest(stored), server.requests) == (before, [])


@pytest.mark.parametrize("command", READS + CHANGES_TO_NOTHING, ids=" ".join)
def test_a_read_command_without_a_database_creates_nothing(cli, agentcli_home, tmp_path, command):
    out = cli(*command)
    assert out.exit_code in (0, 1), out  # an unknown session or memory is exit status 1
    assert "Traceback" not in out.output
    assert not agentcli_home.exists()
    elsewhere = tmp_path / "new" / "dir" / "a.db"
    cli("--db", str(elsewhere), *command)
    assert not (tmp_path / "new").exists()


def test_a_read_command_without_a_database_prints_the_empty_result(cli, agentcli_home):
    assert cli("memories", "list", "-u", "nobody", "--json").stdout == "[]\n"
    assert cli("memories", "list", "-u", "nobody").stderr == "no memories for user nobody\n"
    assert cli("sessions", "list", "--json").stdout == "[]\n"
    assert (
        cli("sessions", "show", "t").stderr == "agentcli: error: no session 't' for user 'tester'\n"
    )
    assert not agentcli_home.exists()
    assert cli("memories", "add", "Likes tea.").exit_code == 0  # a write creates it
    assert files_in(agentcli_home) == ["agentcli.db"]


# -- 2. a session deleted while a reply streams into it ---------------------------------
KEPT = "session s was deleted while this reply was written; it was kept in a new session s"


def session_rows(db, user_id: str = "u", session_id: str = "s") -> list[tuple]:
    found = db.require_session(user_id, session_id)
    return [(m.status, m.role, m.content) for m in db.session_messages(found.pk)]


def delete_elsewhere(db, user_id: str = "u", session_id: str = "s") -> None:
    """Delete the session from another thread, on that thread's own connection."""
    errors: list[BaseException] = []

    def delete() -> None:
        try:
            db.delete_session(user_id, session_id)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    thread = threading.Thread(target=delete)
    thread.start()
    thread.join()
    assert not errors


def test_a_reply_whose_session_is_deleted_mid_stream_is_kept_in_a_new_one(scripted, db):
    from agentcli import Agent
    from agentcli.core.events import Warning

    events: list[object] = []
    agent = Agent(model=scripted, db=db, on_event=events.append)
    agent.run("first", user_id="u", session_id="s")
    scripted.script(Text("Once upon a time", chunk=5))
    seen: list[str] = []

    def delete_after_one(text: str) -> None:
        seen.append(text)
        if len(seen) == 1:
            delete_elsewhere(db)

    result = agent.run("story", user_id="u", session_id="s", on_text=delete_after_one)
    assert result.content == "Once upon a time"
    assert session_rows(db) == [
        ("completed", "user", "story"),
        ("completed", "assistant", "Once upon a time"),
    ]
    assert [e.text for e in events if isinstance(e, Warning)] == [KEPT]
    messages = db.session_messages(db.require_session("u", "s").pk)
    assert {m.run_id for m in messages} == {result.run_id}
    # The next run of the session goes on from the kept one.
    agent.run("more", user_id="u", session_id="s")
    assert [m["content"] for m in scripted.requests[-1].messages[-3:]] == [
        "story",
        "Once upon a time",
        "more",
    ]


def test_a_cancelled_reply_whose_session_was_deleted_keeps_its_part(scripted, db):
    from agentcli import Agent
    from agentcli.core.errors import RunCancelled

    warnings: list[str] = []
    agent = Agent(model=scripted, db=db, on_warning=warnings.append)
    scripted.script(Text("Once upon a time", chunk=5))
    seen: list[str] = []

    def delete_then_interrupt(text: str) -> None:
        seen.append(text)
        if len(seen) == 1:
            delete_elsewhere(db)
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(RunCancelled):
        agent.run("story", user_id="u", session_id="s", on_text=delete_then_interrupt)
    assert session_rows(db) == [
        ("cancelled", "user", "story"),
        ("cancelled", "assistant", "Once upon "),
    ]
    assert warnings == [KEPT]


def repl_typed(repl, keys: str) -> tuple[str, str]:
    """Run the REPL on these keys (then Ctrl-D); what it wrote to stdout and stderr."""
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    out, err = repl.env.stdout.tell(), repl.env.stderr.tell()
    with create_pipe_input() as pipe:
        pipe.send_text(keys)
        pipe.close()
        repl._input, repl._output = pipe, DummyOutput()
        repl.run()
    return repl.env.stdout.getvalue()[out:], repl.env.stderr.getvalue()[err:]


def test_the_repl_says_when_its_session_was_deleted_and_keeps_the_reply(server, model, db):
    import io

    from agentcli import Agent
    from agentcli.config import Settings
    from agentcli.render import Env
    from agentcli.repl import Repl

    env = Env(stdin=io.StringIO(), stdout=io.StringIO(), stderr=io.StringIO())
    agent = Agent(model=model, db=db)
    repl = Repl(env, db, agent, Settings(model="test-model"), user_id="u", session_id="s")

    def delete_then_answer(request):
        delete_elsewhere(db)
        return Text("kept reply")

    server.script(delete_then_answer)
    out, err = repl_typed(repl, "hello\r")
    assert out.endswith("kept reply\n")
    assert err == f"agentcli: warning: {KEPT}\n"
    assert session_rows(db) == [
        ("completed", "user", "hello"),
        ("completed", "assistant", "kept reply"),
    ]
    # Deleted between two messages: said before the session starts again.
    delete_elsewhere(db)
    out, err = repl_typed(repl, "again\r")
    assert out.endswith("echo: again\n")
    assert err == (
        "agentcli: warning: session s was deleted by another command; "
        "this message starts it again\n"
    )
    assert session_rows(db) == [
        ("completed", "user", "again"),
        ("completed", "assistant", "echo: again"),
    ]


def wait_for(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_chat_whose_session_another_process_deletes_keeps_the_reply(server, store_target):
    reply = " ".join(f"word{i}" for i in range(40))  # streams for about 4 s
    server.script(Text(reply, chunk=8, delay=0.1))
    base = [AGENTCLI, "--db", store_target]
    chat = subprocess.Popen(
        [*base, "chat", "-u", "x", "-s", "X", "--memory", "off", "--no-summaries", "q"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: len(server.requests) == 1)
        time.sleep(0.3)  # a few pieces have streamed
        deleted = subprocess.run(
            [*base, "sessions", "delete", "-u", "x", "X", "--yes"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert deleted.returncode == 0, deleted.stderr
        out, err = chat.communicate(timeout=60)
    finally:
        chat.kill()
    assert (chat.returncode, out) == (0, reply + "\n"), err
    assert err == (
        "agentcli: warning: session X was deleted while this reply was written; "
        "it was kept in a new session X\n"
    )
    shown = subprocess.run(
        [*base, "sessions", "show", "-u", "x", "X", "--json"], capture_output=True, text=True
    )
    messages = json.loads(shown.stdout)["messages"]
    assert [(m["role"], m["content"], m["status"]) for m in messages] == [
        ("user", "q", "completed"),
        ("assistant", reply, "completed"),
    ]


# -- 5. SIGTERM and SIGHUP mid-stream ----------------------------------------------------
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_stop_signal_mid_stream_keeps_the_partial_reply_as_cancelled(
    server, store_target, signum
):
    reply = " ".join(f"word{i}" for i in range(60))
    server.script(Text(reply, chunk=6, delay=0.05))
    base = [AGENTCLI, "--db", store_target]
    chat = subprocess.Popen(
        [*base, "chat", "-u", "x", "-s", "X", "--memory", "off", "--no-summaries", "tell me"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: len(server.requests) == 1)
        time.sleep(0.5)  # some of the reply has streamed, not all of it
        chat.send_signal(signum)
        out, err = chat.communicate(timeout=60)
    finally:
        chat.kill()
    assert chat.returncode == 128 + signum, err
    out = out.rstrip("\n")  # the line the reply ends with
    assert out and reply.startswith(out) and len(out) < len(reply)
    shown = subprocess.run(
        [*base, "sessions", "show", "-u", "x", "X", "--json"], capture_output=True, text=True
    )
    messages = json.loads(shown.stdout)["messages"]
    assert [(m["role"], m["status"]) for m in messages] == [
        ("user", "cancelled"),
        ("assistant", "cancelled"),
    ]
    kept = messages[1]["content"]
    assert out.startswith(kept) or kept.startswith(out)  # what arrived, give or take a piece
    assert kept and reply.startswith(kept) and len(kept) < len(reply)


# -- 7. the modes of the data directory and the config file ------------------------------
def test_an_open_data_directory_of_agentcli_is_made_private(cli, agentcli_home, stored):
    agentcli_home.chmod(0o755)
    (agentcli_home / "config.toml").write_text('model = "m"\n')
    out = cli("sessions", "list", "--json")
    assert (out.exit_code, out.stderr) == (0, "")
    assert mode(agentcli_home) == 0o700


def test_an_open_data_directory_holding_other_files_is_warned_about(cli, agentcli_home, stored):
    (agentcli_home / "notes.txt").write_text("mine")
    agentcli_home.chmod(0o755)
    out = cli("sessions", "list", "--json")
    assert (out.exit_code, out.stderr) == (
        0,
        f"agentcli: warning: data directory {agentcli_home} can be read by others "
        f"(mode 0755); make it private: chmod 700 {agentcli_home}\n",
    )
    assert mode(agentcli_home) == 0o755  # not only agentcli's: not changed behind your back


@pytest.mark.parametrize("file_mode", [0o644, 0o640, 0o604], ids=oct)
def test_a_config_file_with_a_key_that_others_can_read_is_warned_about(
    cli, agentcli_home, file_mode
):
    agentcli_home.mkdir(mode=0o700)
    config = agentcli_home / "config.toml"
    config.write_text('api_key = "sk-secret-123456"\n')
    config.chmod(file_mode)
    out = cli("sessions", "list", "--json")
    assert (out.exit_code, out.stdout) == (0, "[]\n")
    assert out.stderr == (
        f"agentcli: warning: config file {config} holds api_key and can be read by others "
        f"(mode {file_mode:04o}); make it private: chmod 600 {config}\n"
    )
    assert "sk-secret" not in out.stderr


@pytest.mark.parametrize(
    ("text", "file_mode"),
    [('api_key = "sk-secret-123456"\n', 0o600), ('model = "m"\n', 0o644)],
    ids=["private", "no-secret"],
)
def test_a_private_config_file_or_one_without_secrets_is_not_warned_about(
    cli, agentcli_home, text, file_mode
):
    agentcli_home.mkdir(mode=0o700)
    config = agentcli_home / "config.toml"
    config.write_text(text)
    config.chmod(file_mode)
    assert cli("sessions", "list", "--json").stderr == ""


def test_side_files_left_read_only_by_an_older_reader_are_repaired(
    server, agentcli_home, stored, restore_modes
):
    stored.chmod(0o400)
    restore_modes.append(stored)
    # What sqlite3 (and agentcli before) leaves after reading a read-only database.
    read = unprivileged_python(
        f"import sqlite3; c = sqlite3.connect({str(stored)!r}); "
        "c.execute('SELECT count(*) FROM sessions').fetchall(); c.close()"
    )
    assert read.returncode == 0, read.stderr
    assert files_in(agentcli_home) == ["agentcli.db", "agentcli.db-shm", "agentcli.db-wal"]
    assert mode(agentcli_home / "agentcli.db-shm") == 0o400
    stored.chmod(0o600)
    out = unprivileged("chat", "-s", "t", "more", home=agentcli_home)
    assert (out.returncode, out.stderr) == (0, "")
    assert unprivileged("memories", "add", "Likes coffee.", home=agentcli_home).returncode == 0


def unprivileged_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=_drop_root_file_powers if os.geteuid() == 0 else None,
    )


def test_a_long_lived_store_writes_again_once_the_disk_has_room(tmp_path):
    """SQLite's page limit fills the database as a full disk does (SQLITE_FULL), on
    the connection a server or the REPL keeps: the failed COMMIT is rolled back
    without hiding its cause, and the next write on it works once there is room."""
    from agentcli.core.errors import StoreError

    db = SqliteDb(tmp_path / "a.db")
    db.add_memory("u", "Kept.", actor="user")
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages + 2}")  # this thread's connection only
    rows = [{"memory": f"Fact {i}: " + "x" * 500} for i in range(100)]
    for _ in range(2):  # the second failure names the cause as well as the first
        with pytest.raises(StoreError, match=r"a\.db: database or disk is full$"):
            db.import_memories("u", rows, actor="user")
    db.execute("PRAGMA max_page_count = 1073741823")  # room again
    assert db.import_memories("u", rows, actor="user") == 100
    session, run = db.begin_run("u", "s", "hello", "m", "here:1:1")
    assert db.finish_run(run.pk, status="completed").status == "completed"
    db.close()


def test_sigterm_while_the_repl_streams_keeps_the_part_and_ends_the_repl(server, model, db):
    import io

    from agentcli import Agent
    from agentcli.config import Settings
    from agentcli.core.cancel import stop_signals_interrupt
    from agentcli.render import Env
    from agentcli.repl import Repl

    env = Env(stdin=io.StringIO(), stdout=io.StringIO(), stderr=io.StringIO())
    repl = Repl(
        env, db, Agent(model=model, db=db), Settings(model="m"), user_id="u", session_id="s"
    )
    reply = " ".join(f"word{i}" for i in range(60))
    server.script(Text(reply, chunk=6, delay=0.05))

    def terminate_once_streaming() -> None:
        wait_for(lambda: len(server.requests) == 1)
        time.sleep(0.4)
        os.kill(os.getpid(), signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM)
    killer = threading.Thread(target=terminate_once_streaming)
    killer.start()
    with pytest.raises(SystemExit) as ended, stop_signals_interrupt():
        repl_typed(repl, "tell me\rnever sent\r")
    killer.join()
    assert ended.value.code == 143
    assert signal.getsignal(signal.SIGTERM) == before  # restored
    rows = session_rows(db)
    assert [(status, role) for status, role, _ in rows] == [
        ("cancelled", "user"),
        ("cancelled", "assistant"),
    ]
    kept = rows[1][2]
    assert kept and reply.startswith(kept) and len(kept) < len(reply)
    assert len(server.requests) == 1  # the REPL ended: the next line was never sent


def test_a_repl_whose_input_history_cannot_be_written_still_chats(server, model, db, agentcli_home):
    import io

    from agentcli import Agent
    from agentcli.config import Settings, history_path
    from agentcli.render import Env
    from agentcli.repl import Repl

    blocked = history_path("u")
    blocked.mkdir(parents=True)  # no file can be written there
    env = Env(stdin=io.StringIO(), stdout=io.StringIO(), stderr=io.StringIO())
    repl = Repl(
        env, db, Agent(model=model, db=db), Settings(model="m"), user_id="u", session_id="s"
    )
    out, err = repl_typed(repl, "hello\r")
    assert out.endswith("echo: hello\n")
    assert err == (
        f"agentcli: warning: input history not kept: cannot write {blocked}: Is a directory\n"
    )
    assert session_rows(db)[-1] == ("completed", "assistant", "echo: hello")
