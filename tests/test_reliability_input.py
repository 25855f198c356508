"""Bad input: empty, huge, undecodable and odd messages and ids; broken database files."""

import ctypes
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from chat_server import Text

from agentcli import Agent
from agentcli.errors import SchemaTooNewError, StoreError, UsageError
from agentcli.store import SqliteDb

AGENTCLI = str(Path(sys.executable).with_name("agentcli"))
LIMIT = 4_000_000  # commands/chat.py MAX_MESSAGE_CHARS


def rows(path, sql):
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def files_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# -- messages -----------------------------------------------------------------
@pytest.mark.parametrize("message", ["", "  \t\n "], ids=["empty", "whitespace"])
def test_empty_and_whitespace_messages_are_refused(run_cli, server, agentcli_home, message):
    out = run_cli("chat", "-s", "t", message)
    assert (out.returncode, out.stderr.decode()) == (
        2,
        "agentcli: error: the message is empty: give it as an argument or on stdin\n",
    )
    assert server.requests == [] and not (agentcli_home / "agentcli.db").exists()


def test_one_megabyte_of_piped_text_is_accepted_whole(run_cli, server, agentcli_home):
    text = ("0123456789abcdef" * 65_536)[:1_000_000]
    server.script(Text("Read it all."))
    out = run_cli("chat", "-s", "big", input=text)
    assert (out.returncode, out.stdout.decode()) == (0, "Read it all.\n")
    assert server.requests[0]["messages"][-1]["content"] == text
    assert rows(agentcli_home / "agentcli.db", "SELECT content FROM messages WHERE seq = 0") == [
        (text,)
    ]


def test_a_message_over_the_limit_is_refused_with_the_limit(run_cli, server, agentcli_home):
    out = run_cli("chat", "-s", "big", input="a" * (LIMIT + 1))
    assert (out.returncode, out.stderr.decode()) == (
        2,
        "agentcli: error: the message is 4,000,001 characters; the limit is 4,000,000\n",
    )
    assert server.requests == [] and not (agentcli_home / "agentcli.db").exists()


def test_endless_piped_input_is_refused_without_reading_it_all(run_cli, server):
    # More bytes than LIMIT characters can take: refused after reading 4 bytes a character.
    out = run_cli("chat", "-s", "big", input=b"\xf0\x9f\x98\x80" * LIMIT + b"!")
    assert (out.returncode, out.stderr.decode()) == (
        2,
        "agentcli: error: standard input is longer than the limit of 4,000,000 characters\n",
    )
    assert server.requests == []


def test_invalid_utf8_is_replaced_with_a_warning(run_cli, server, agentcli_home):
    out = run_cli("chat", "-s", "t", input=b"caf\xe9 \xff\xfe ok")
    assert out.returncode == 0
    assert out.stderr.decode() == (
        "agentcli: warning: standard input is not valid UTF-8; "
        "invalid bytes were replaced by U+FFFD\n"
    )
    assert server.requests[0]["messages"][-1]["content"] == "caf\ufffd \ufffd\ufffd ok"
    assert rows(agentcli_home / "agentcli.db", "SELECT content FROM messages WHERE seq = 0") == [
        ("caf\ufffd \ufffd\ufffd ok",)
    ]


def test_nul_bytes_are_kept_exactly(run_cli, server, agentcli_home):
    out = run_cli("chat", "-s", "t", input=b"before\x00after")
    assert (out.returncode, out.stdout) == (0, b"echo: before\x00after\n")
    assert rows(agentcli_home / "agentcli.db", "SELECT content FROM messages ORDER BY seq") == [
        ("before\x00after",),
        ("echo: before\x00after",),
    ]


# -- user and session ids -----------------------------------------------------------
ODD_IDS = {
    "quotes": ('o\'brien "the" `user`', 'it\'s "42"'),
    "spaces": ("  sarah  smith ", " thread 42 "),
    "unicode": ("ユーザー😀", "séssion-ß-Ω"),
    "long": ("u" * 500, "s" * 500),
    "sql": ("x' OR '1'='1", "'); DROP TABLE runs; --"),
    "placeholders": ("%s %d {0} ?1 :name", '* NEAR(a b) OR "c"'),
}


def test_odd_user_and_session_ids_are_stored_and_shown_exactly(server, agentcli_home):
    env = dict(os.environ, OPENAI_BASE_URL=server.url)
    procs = [
        subprocess.Popen(
            [AGENTCLI, "chat", "--json", "-u", user_id, "-s", session_id, "hello"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            env=env,
        )
        for user_id, session_id in ODD_IDS.values()
    ]
    for proc, (user_id, session_id) in zip(procs, ODD_IDS.values(), strict=True):
        data = json.loads(proc.communicate(timeout=60)[0])
        assert (proc.returncode, data["user_id"], data["session_id"]) == (0, user_id, session_id)
    stored = rows(agentcli_home / "agentcli.db", "SELECT user_id, session_id FROM sessions")
    assert sorted(stored) == sorted(ODD_IDS.values())
    assert rows(agentcli_home / "agentcli.db", "SELECT count(*) FROM runs") == [(len(ODD_IDS),)]


@pytest.mark.parametrize("user_id,session_id", ODD_IDS.values(), ids=ODD_IDS)
def test_odd_ids_find_their_own_history_and_no_other(agent, server, db, user_id, session_id):
    agent.run("first", user_id=user_id, session_id=session_id)
    agent.run("elsewhere", user_id=user_id + "x", session_id=session_id)
    agent.run("second", user_id=user_id, session_id=session_id)
    sent = [m["content"] for m in server.requests[-1]["messages"][1:]]
    assert sent == ["first", "echo: first", "second"]
    assert [s.session_id for s in db.list_sessions(user_id)] == [session_id]


# -- history runs ------------------------------------------------------------------
def test_negative_history_runs_is_refused_from_flag_env_and_library(run_cli, server, db):
    out = run_cli("chat", "--history-runs", "-1", "x")
    assert (out.returncode, out.stderr.decode()) == (
        2,
        "agentcli: error: --history-runs must be 0 or more\n",
    )
    out = run_cli("chat", "x", env={"AGENTCLI_HISTORY_RUNS": "-1"})
    assert (out.returncode, out.stderr.decode()) == (
        2,
        "agentcli: error: history runs must be 0 or more, got -1 "
        "(from env AGENTCLI_HISTORY_RUNS)\n",
    )
    with pytest.raises(UsageError, match="num_history_runs must be 0 or more"):
        Agent(db=db, num_history_runs=-1)
    assert server.requests == []


# -- database files ------------------------------------------------------------------
def test_a_file_that_is_not_a_database_is_named_and_left_alone(run_cli, server, tmp_path):
    target = tmp_path / "notes.db"
    target.write_bytes(b"these are my notes, not a database\n" * 100)
    before = digest(target)
    out = run_cli("--db", str(target), "chat", "-s", "t", "x")
    assert (out.returncode, out.stderr.decode()) == (
        1,
        f"agentcli: error: cannot use database {target}: file is not a database "
        "(the file was left as it is)\n",
    )
    assert (digest(target), files_in(tmp_path), server.requests) == (before, ["notes.db"], [])


def test_a_truncated_database_is_named_and_left_alone(tmp_path):
    target = tmp_path / "chat.db"
    db = SqliteDb(target)
    session = db.ensure_session("u", "s")
    for i in range(50):
        run = db.start_run(session, f"message {i} " * 100, "m", "here:1:1")
        db.finish_run(run.pk, status="completed", messages=[{"role": "assistant", "content": "ok"}])
    db.close()
    target.write_bytes(target.read_bytes()[: target.stat().st_size // 3])
    before = digest(target)
    with pytest.raises(StoreError, match=f"^cannot use database {target}: .*malformed"):
        SqliteDb(target)
    assert (digest(target), files_in(tmp_path)) == (before, ["chat.db"])


def test_another_programs_database_is_refused_unchanged(tmp_path):
    target = tmp_path / "places.sqlite"
    conn = sqlite3.connect(target)
    conn.execute("CREATE TABLE bookmarks (url TEXT)")
    conn.commit()
    conn.close()
    before = digest(target)
    with pytest.raises(StoreError, match="is not an agentcli database"):
        SqliteDb(target)
    assert (digest(target), files_in(tmp_path)) == (before, ["places.sqlite"])


def test_a_database_failing_after_it_opened_is_one_line_naming_the_file(
    run_cli, server, agentcli_home
):
    SqliteDb(agentcli_home / "agentcli.db").close()
    conn = sqlite3.connect(agentcli_home / "agentcli.db")
    conn.execute("DROP TABLE messages")
    conn.close()
    out = run_cli("chat", "-s", "t", "x")
    assert (out.returncode, out.stderr.decode()) == (
        1,
        f"agentcli: error: database {agentcli_home / 'agentcli.db'}: no such table: messages\n",
    )


@pytest.mark.parametrize("wal", [False, True], ids=["rollback-journal", "wal"])
def test_a_newer_database_is_refused_byte_identical_with_no_side_files(tmp_path, wal):
    target = tmp_path / "future.db"
    conn = sqlite3.connect(target)
    if wal:
        conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE from_the_future (x)")
    conn.execute("PRAGMA user_version = 42")
    conn.commit()
    conn.close()
    before = digest(target)
    with pytest.raises(SchemaTooNewError, match="schema version 42, newer than this agentcli"):
        SqliteDb(target)
    assert (digest(target), files_in(tmp_path)) == (before, ["future.db"])


def test_a_newer_database_through_the_cli(run_cli, server, tmp_path):
    target = tmp_path / "future.db"
    conn = sqlite3.connect(target)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA user_version = 7")
    conn.close()
    before = digest(target)
    out = run_cli("--db", str(target), "chat", "-s", "t", "x")
    assert (out.returncode, out.stderr.decode()) == (
        1,
        f"agentcli: error: database {target} has schema version 7, newer than this agentcli "
        "understands (1); upgrade agentcli. The file was not changed.\n",
    )
    assert (digest(target), files_in(tmp_path), server.requests) == (before, ["future.db"], [])


# -- read-only places ------------------------------------------------------------------
def _drop_root_file_powers() -> None:
    """In the child: as root, lose the power to ignore file permissions."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def run_unprivileged(*args: str, home: Path) -> subprocess.CompletedProcess:
    """``agentcli`` as a process that file permissions apply to (even under root)."""
    env = dict(os.environ, AGENTCLI_HOME=str(home))
    return subprocess.run(
        [AGENTCLI, *args],
        input=b"",
        capture_output=True,
        env=env,
        timeout=60,
        preexec_fn=_drop_root_file_powers if os.geteuid() == 0 else None,
    )


@pytest.fixture
def read_only(tmp_path):
    """Make directories or files read-only; restored for clean-up."""
    changed = []

    def make(path: Path, mode: int) -> Path:
        changed.append(path)
        path.chmod(mode)
        return path

    yield make
    for path in changed:
        path.chmod(0o700)


def test_a_read_only_data_directory_without_a_database(server, tmp_path, read_only):
    home = tmp_path / "home"
    home.mkdir()
    read_only(home, 0o500)
    out = run_unprivileged("chat", "-s", "t", "x", home=home)
    assert (out.returncode, out.stderr.decode()) == (
        1,
        f"agentcli: error: cannot create database {home / 'agentcli.db'}: Permission denied\n",
    )
    assert (files_in(home), server.requests) == ([], [])


def test_a_database_in_a_read_only_directory_is_refused_unchanged(server, tmp_path, read_only):
    home = tmp_path / "home"
    db = SqliteDb(home / "agentcli.db")
    db.ensure_session("u", "s")
    db.close()
    before = digest(home / "agentcli.db")
    read_only(home, 0o500)
    out = run_unprivileged("chat", "-s", "t", "x", home=home)
    assert (out.returncode, out.stderr.decode()) == (
        1,
        f"agentcli: error: cannot use database {home / 'agentcli.db'}: attempt to write a "
        "readonly database (the file was left as it is)\n",
    )
    assert (digest(home / "agentcli.db"), files_in(home)) == (before, ["agentcli.db"])


def test_a_read_only_database_file_is_one_line_naming_it(server, tmp_path, read_only):
    home = tmp_path / "home"
    SqliteDb(home / "agentcli.db").close()
    before = digest(home / "agentcli.db")
    read_only(home / "agentcli.db", 0o400)
    out = run_unprivileged("chat", "-s", "t", "x", home=home)
    assert (out.returncode, out.stderr.decode()) == (
        1,
        f"agentcli: error: database {home / 'agentcli.db'}: attempt to write a readonly database\n",
    )
    assert digest(home / "agentcli.db") == before
