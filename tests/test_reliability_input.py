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
from reliability_model import scripted

from agentcli import Agent, OpenAIChat
from agentcli.adapters.sqlite import SCHEMA_VERSION, SqliteDb
from agentcli.core.errors import SchemaTooNewError, StoreError, UsageError

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
def test_empty_and_whitespace_messages_are_refused(cli, server, agentcli_home, message):
    out = cli("chat", "-s", "t", message)
    assert (out.exit_code, out.stderr) == (
        2,
        "agentcli: error: the message is empty: give it as an argument or on stdin\n",
    )
    assert server.requests == [] and not (agentcli_home / "agentcli.db").exists()


def test_one_megabyte_of_piped_text_is_accepted_whole(cli, server, agentcli_home):
    text = ("0123456789abcdef" * 65_536)[:1_000_000]
    server.script(Text("Read it all."))
    out = cli("chat", "-s", "big", "--context-window", "400000", input=text)
    assert (out.exit_code, out.stdout) == (0, "Read it all.\n")
    assert server.requests[0]["messages"][-1]["content"] == text
    assert rows(agentcli_home / "agentcli.db", "SELECT content FROM messages WHERE seq = 0") == [
        (text,)
    ]


def test_a_message_over_the_limit_is_refused_with_the_limit(cli, server, agentcli_home):
    out = cli("chat", "-s", "big", input="a" * (LIMIT + 1))
    assert (out.exit_code, out.stderr) == (
        2,
        "agentcli: error: the message is 4,000,001 characters; the limit is 4,000,000\n",
    )
    assert server.requests == [] and not (agentcli_home / "agentcli.db").exists()


def test_endless_piped_input_is_refused_without_reading_it_all(cli, server):
    # More bytes than LIMIT characters can take: refused after reading 4 bytes a character.
    out = cli("chat", "-s", "big", input=b"\xf0\x9f\x98\x80" * LIMIT + b"!")
    assert (out.exit_code, out.stderr) == (
        2,
        "agentcli: error: standard input is longer than the limit of 4,000,000 characters\n",
    )
    assert server.requests == []


def test_invalid_utf8_is_replaced_with_a_warning(cli, server, agentcli_home):
    out = cli("chat", "-s", "t", input=b"caf\xe9 \xff\xfe ok")
    assert out.exit_code == 0
    assert out.stderr == (
        "agentcli: warning: standard input is not valid UTF-8; "
        "invalid bytes were replaced by U+FFFD\n"
    )
    assert server.requests[0]["messages"][-1]["content"] == "caf\ufffd \ufffd\ufffd ok"
    assert rows(agentcli_home / "agentcli.db", "SELECT content FROM messages WHERE seq = 0") == [
        ("caf\ufffd \ufffd\ufffd ok",)
    ]


def test_nul_bytes_are_kept_exactly(cli, server, agentcli_home):
    out = cli("chat", "-s", "t", input=b"before\x00after")
    assert (out.exit_code, out.stdout) == (0, "echo: before\x00after\n")
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
def test_negative_history_runs_is_refused_from_flag_env_and_library(cli, server, db):
    out = cli("chat", "--history-runs", "-1", "x")
    assert (out.exit_code, out.stderr) == (
        2,
        "agentcli: error: history runs must be 0 to 100,000 runs, got -1 (from --history-runs)\n",
    )
    out = cli("chat", "x", env={"AGENTCLI_HISTORY_RUNS": "-1"})
    assert (out.exit_code, out.stderr) == (
        2,
        "agentcli: error: history runs must be 0 to 100,000 runs, got -1 "
        "(from env AGENTCLI_HISTORY_RUNS)\n",
    )
    with pytest.raises(UsageError, match="num_history_runs must be 0 or more"):
        Agent(model=OpenAIChat("m", base_url=server.url), db=db, num_history_runs=-1)
    assert server.requests == []


# -- database files ------------------------------------------------------------------
def test_a_file_that_is_not_a_database_is_named_and_left_alone(cli, server, tmp_path):
    target = tmp_path / "notes.db"
    target.write_bytes(b"these are my notes, not a database\n" * 100)
    before = digest(target)
    out = cli("--db", str(target), "chat", "-s", "t", "x")
    assert (out.exit_code, out.stderr) == (
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


def test_a_database_failing_after_it_opened_is_one_line_naming_the_file(cli, server, agentcli_home):
    SqliteDb(agentcli_home / "agentcli.db").close()
    conn = sqlite3.connect(agentcli_home / "agentcli.db")
    conn.execute("DROP TABLE messages")
    conn.close()
    out = cli("chat", "-s", "t", "x")
    assert (out.exit_code, out.stderr) == (
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


def test_a_newer_database_through_the_cli(cli, server, tmp_path):
    target = tmp_path / "future.db"
    conn = sqlite3.connect(target)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA user_version = 7")
    conn.close()
    before = digest(target)
    out = cli("--db", str(target), "chat", "-s", "t", "x")
    assert (out.exit_code, out.stderr) == (
        1,
        f"agentcli: error: database {target} has schema version 7, newer than this agentcli "
        f"understands ({SCHEMA_VERSION}); upgrade agentcli. The file was not changed.\n",
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
        f"agentcli: error: database {home / 'agentcli.db'}: attempt to write a readonly "
        "database (its directory is not writable; nothing was changed)\n",
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
        f"agentcli: error: database {home / 'agentcli.db'}: attempt to write a readonly database "
        "(the file is not writable; nothing was changed)\n",
    )
    assert digest(home / "agentcli.db") == before


# -- the data commands: unknown and foreign ids, broken import files, odd ids ------
def contents(path: Path) -> dict[str, list[tuple]]:
    tables = ("sessions", "runs", "messages", "memories", "memory_events", "model_calls")
    return {table: rows(path, f"SELECT * FROM {table} ORDER BY id") for table in tables}


@pytest.fixture
def sarahs(agentcli_home):
    """Sarah's session "t" with one run, and her memory 1; then the file's contents."""
    path = agentcli_home / "agentcli.db"
    db = SqliteDb(path)
    run = db.start_run(db.ensure_session("sarah", "t"), "hello", "m", "here:1:1")
    db.finish_run(run.pk, status="completed", messages=[{"role": "assistant", "content": "hi"}])
    db.add_memory("sarah", "Sarah likes tea.", actor="user")
    db.close()
    return path, contents(path)


SESSION_COMMANDS = {
    "show": ("sessions", "show", "{s}"),
    "show-json": ("sessions", "show", "{s}", "--json"),
    "rename": ("sessions", "rename", "{s}", "new name"),
    "delete": ("sessions", "delete", "{s}", "--yes"),
    "export": ("sessions", "export", "{s}"),
    "export-to-a-file": ("sessions", "export", "{s}", "-o", "{tmp}/out.md"),
    "summarize": ("summarize", "-s", "{s}"),
    "summarize-show": ("summarize", "-s", "{s}", "--show"),
}


@pytest.mark.parametrize(
    "user,session", [("sarah", "nope"), ("bob", "t")], ids=["unknown", "foreign"]
)
@pytest.mark.parametrize("command", SESSION_COMMANDS.values(), ids=SESSION_COMMANDS)
def test_unknown_and_foreign_sessions_are_one_line_and_change_nothing(
    cli, sarahs, tmp_path, command, user, session
):
    path, before = sarahs
    args = [a.format(s=session, tmp=tmp_path) for a in command]
    out = cli(*args, "-u", user)
    assert (out.exit_code, out.stdout, out.stderr) == (
        1,
        "",
        f"agentcli: error: no session {session!r} for user {user!r}\n",
    )
    assert contents(path) == before and not (tmp_path / "out.md").exists()


MEMORY_IDS = ["2", "0", "-1", str(2**63), "9" * 30]


@pytest.mark.parametrize("user,memory_id", [("sarah", i) for i in MEMORY_IDS] + [("bob", "1")])
@pytest.mark.parametrize("command", [("edit", "new text"), ("delete",), ("history",)])
def test_unknown_and_foreign_memory_ids_are_one_line_and_change_nothing(
    cli, sarahs, command, user, memory_id
):
    path, before = sarahs
    out = cli("memories", command[0], "-u", user, "--", memory_id, *command[1:])
    assert (out.exit_code, out.stdout, out.stderr) == (
        1,
        "",
        f"agentcli: error: no memory {memory_id} for user {user!r}\n",
    )
    assert contents(path) == before


BAD_IMPORTS = {
    "not-json": (b"not json", "{f} is not valid JSON: Expecting value: line 1 column 1 (char 0)"),
    "empty": (b"", "{f} is not valid JSON: Expecting value: line 1 column 1 (char 0)"),
    "not-utf8": (
        b'[{"memory": "caf\xe9"}]',
        "{f} is not valid JSON: 'utf-8' codec can't decode byte 0xe9 in position 16: "
        "invalid continuation byte",
    ),
    "an-object": (
        b'{"memory": "x"}',
        "expected a JSON list of memories, as `agentcli memories export` writes",
    ),
    "strings": (b'["Sarah likes jazz."]', "memory 1: not an object"),
    "a-null-row": (b'[{"memory": "Sarah likes jazz."}, null]', "memory 2: not an object"),
    "no-text": (b'[{"text": "Sarah likes jazz."}]', 'memory 1: "memory" must be a string'),
    "blank-text": (b'[{"memory": " \\n "}]', "memory 1: a memory must not be empty"),
    "text-too-long": (
        json.dumps([{"memory": "x" * 1001}]).encode(),
        "memory 1: a memory is at most 1000 characters (this one has 1001)",
    ),
    "topics-not-strings": (
        b'[{"memory": "x", "topics": [1]}]',
        "memory 1: topics must be a list of strings",
    ),
    "bad-time": (
        b'[{"memory": "x", "created_at": "yesterday"}]',
        "memory 1: \"created_at\" must be an ISO 8601 time, got 'yesterday'",
    ),
    "nested-100000-deep": (
        b"[" * 100_000 + b"]" * 100_000,
        "{f} is not valid JSON: nested too deeply",
    ),
    "a-5000-digit-number": (
        b'[{"memory": "x", "topics": ' + b"1" * 5000 + b"}]",
        "{f} is not valid JSON: Exceeds the limit (4300 digits) for integer string conversion: "
        "value has 5000 digits; use sys.set_int_max_str_digits() to increase the limit",
    ),
    "over-100000-memories": (
        json.dumps([{"memory": f"Fact {i}."} for i in range(100_001)]).encode(),
        "100,001 memories: one import takes at most 100,000; split the file",
    ),
}


@pytest.mark.parametrize("data,error", BAD_IMPORTS.values(), ids=BAD_IMPORTS)
def test_broken_import_files_are_one_line_and_change_nothing(cli, sarahs, tmp_path, data, error):
    path, before = sarahs
    source = tmp_path / "memories.json"
    source.write_bytes(data)
    sources = [(str(source), None)]
    if "utf-8" not in error:  # (stdin reaches the command as text)
        sources.append(("-", data.decode()))
    for name, stdin in sources:
        out = cli("memories", "import", name, "-u", "sarah", input=stdin)
        assert (out.exit_code, out.stdout) == (2, "")
        assert out.stderr == f"agentcli: error: {error.format(f=name)}\n"
    assert contents(path) == before


def test_import_files_that_are_too_big_or_not_files(cli, sarahs, tmp_path):
    path, before = sarahs
    huge = tmp_path / "huge.json"
    with open(huge, "wb") as fh:
        fh.truncate(64 * 2**20 + 1)  # sparse: nothing is written, every byte reads as 0
    for name, error in (
        (huge, f"{huge} is larger than the import limit of 64 MiB"),
        (tmp_path, f"cannot read {tmp_path}: Is a directory"),
        (
            tmp_path / "missing.json",
            f"cannot read {tmp_path / 'missing.json'}: No such file or directory",
        ),
    ):
        out = cli("memories", "import", str(name), "-u", "sarah")
        assert (out.exit_code, out.stderr) == (2, f"agentcli: error: {error}\n")
    assert contents(path) == before


def test_an_empty_memory_search_is_refused_and_no_match_says_so(cli, sarahs):
    out = cli("memories", "search", "  ", "-u", "sarah")
    assert (out.exit_code, out.stderr) == (2, "agentcli: error: the query is empty\n")
    out = cli("memories", "search", "coffee", "-u", "sarah")
    assert (out.exit_code, out.stdout, out.stderr) == (0, "", "no memories of user sarah match\n")


@pytest.mark.parametrize("user_id,session_id", ODD_IDS.values(), ids=ODD_IDS)
def test_odd_ids_through_the_sessions_and_memories_commands(
    cli, server, agentcli_home, user_id, session_id
):
    server.default = scripted
    db = SqliteDb(agentcli_home / "agentcli.db")
    run = db.start_run(db.ensure_session(user_id, session_id), "hello", "m", "here:1:1")
    db.finish_run(run.pk, status="completed", messages=[{"role": "assistant", "content": "hi"}])
    db.close()
    me = ("-u", user_id)

    def ok(*args: str, input: str | None = None) -> str:
        out = cli(*args, input=input)
        assert (out.exit_code, out.stderr) == (0, "")
        return out.stdout

    def data(*args: str):
        return json.loads(ok(*args))

    def ids(found: dict) -> tuple[str, str]:
        return found["user_id"], found["session_id"]

    assert [ids(s) for s in data("sessions", "list", *me, "--json")] == [(user_id, session_id)]
    assert ids(data("sessions", "show", session_id, *me, "--json")) == (user_id, session_id)
    assert ok("sessions", "show", session_id, *me).splitlines()[:2] == [
        f"{session_id} · hello",
        f"user {user_id} · 1 run",
    ]
    assert [ids(h) for h in data("sessions", "search", "hello", *me, "--json")] == [
        (user_id, session_id)
    ]
    document = data("sessions", "export", session_id, *me, "--format", "json")
    assert ids(document) == (user_id, session_id)
    assert f"- user: {user_id}\n- session: {session_id}\n" in ok(
        "sessions", "export", session_id, *me
    )
    summary = data("summarize", "-s", session_id, *me, "--json")
    assert (ids(summary), summary["summary"]) == ((user_id, session_id), "- hello")
    assert ok("sessions", "rename", session_id, "Tea", *me) == f"renamed {session_id}: Tea\n"

    memory = data("memories", "add", "Likes tea.", *me, "--json")
    assert [m["user_id"] for m in data("memories", "list", *me, "--json")] == [user_id]
    assert [m["id"] for m in data("memories", "search", "tea", *me, "--json")] == [memory["id"]]
    assert [
        e["user_id"] for e in data("memories", "history", str(memory["id"]), *me, "--json")
    ] == [user_id]
    assert [m["user_id"] for m in data("memories", "export", *me)] == [user_id]
    rows = json.dumps([{"memory": "Likes coffee."}])
    assert ok("memories", "import", "-", *me, input=rows) == (
        f"imported 1 memory for user {user_id} (0 already there)\n"
    )
    assert ok("memories", "clear", *me, "--yes") == f"deleted 2 memories of user {user_id}\n"
    assert (
        ok("sessions", "delete", session_id, *me, "--yes")
        == f"deleted session {session_id} (1 run)\n"
    )
