"""Files as context: ``chat -f``, ``/file``, what is sent, refused and stored."""

import base64
import io
import json
import sqlite3

import pytest
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from agentcli import Agent
from agentcli.adapters.sqlite import SqliteDb
from agentcli.adapters.sqlite import db as sqlite_db
from agentcli.adapters.sqlite.schema import MIGRATIONS
from agentcli.config import Settings
from agentcli.core.attachments import from_bytes
from agentcli.render import Env
from agentcli.repl import Repl

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 13


def rows(home, sql):
    conn = sqlite3.connect(home / "agentcli.db")
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("line one\nline two\n")
    (tmp_path / "a.py").write_text("print(1)")
    (tmp_path / "photo.png").write_bytes(PNG)
    return tmp_path


def block(name, text):
    size = len(text.encode())
    body = text.rstrip("\n")
    return f"----- BEGIN FILE {name} ({size} bytes) -----\n{body}\n----- END FILE {name} -----"


def test_a_file_goes_into_the_message_with_its_name(cli, server, files):
    out = cli("chat", "-s", "t", "-f", "notes.txt", "Summarise it.")
    assert out.exit_code == 0
    expected = block("notes.txt", "line one\nline two\n") + "\n\nSummarise it."
    assert server.requests[0]["messages"][-1] == {"role": "user", "content": expected}


def test_files_and_stdin_in_the_order_given(cli, server, files):
    cli("chat", "-s", "t", "-f", "a.py", "-f", "-", "-f", "notes.txt", "Compare.", input="piped")
    assert server.requests[0]["messages"][-1]["content"] == "\n\n".join(
        [
            block("a.py", "print(1)"),
            block("stdin", "piped"),
            block("notes.txt", "line one\nline two\n"),
            "Compare.",
        ]
    )


def test_files_alone_are_a_message(cli, server, files):
    cli("chat", "-s", "t", "-f", "a.py", input="")
    assert server.requests[0]["messages"][-1]["content"] == block("a.py", "print(1)")
    assert rows(files / "home", "SELECT name FROM sessions") == [("a.py",)]


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"ab\x00cd", "agentcli: error: blob is a binary file (it holds NUL bytes): "),
        (b"caf\xe9", "agentcli: error: blob is not UTF-8 text (invalid byte at offset 3): "),
    ],
)
def test_binary_files_are_refused_before_anything(cli, server, files, data, error):
    (files / "blob").write_bytes(data)
    out = cli("chat", "-s", "t", "-f", "blob", "my words")
    assert (out.exit_code, out.stdout) == (2, "")
    assert out.stderr == error + "only text and images\n"
    assert server.requests == [] and not (files / "home" / "agentcli.db").exists()


def test_the_total_size_limit_gives_both_sizes(cli, server, files):
    out = cli("chat", "-s", "t", "--file-limit", "20", "-f", "notes.txt", "-f", "a.py", "hi")
    assert (out.exit_code, out.stderr) == (
        2,
        "agentcli: error: the attached files are 26 bytes; the limit is 20 bytes "
        "(--file-limit or file_limit raises it)\n",
    )
    assert server.requests == []


def test_the_limit_comes_from_the_config_file_and_stdin_is_cut_at_it(cli, server, files):
    (files / "home").mkdir()
    (files / "home" / "config.toml").write_text("file_limit = 10\n")
    out = cli("chat", "-s", "t", "-f", "-", "hi", input="x" * 50)
    assert out.stderr == (
        "agentcli: error: the attached files are more than 10 bytes; the limit is 10 bytes "
        "(--file-limit or file_limit raises it)\n"
    )


def test_a_missing_file_is_one_line(cli, server, files):
    out = cli("chat", "-s", "t", "-f", "nope.txt", "hi")
    assert (out.exit_code, out.stderr) == (
        2,
        "agentcli: error: cannot read nope.txt: No such file or directory\n",
    )


def test_an_image_for_a_model_without_vision_is_refused(cli, server, files):
    out = cli("chat", "-s", "t", "-m", "text-only", "-f", "photo.png", "What is it?")
    assert (out.exit_code, server.requests) == (2, [])
    assert out.stderr == (
        "agentcli: error: photo.png is an image and model text-only is not declared to accept "
        "images: add it to vision_models in the config file, or pass --vision\n"
    )


def test_an_image_goes_as_an_image_url_part(cli, server, files):
    out = cli("chat", "-s", "t", "--vision", "-f", "photo.png", "What is it?")
    assert out.exit_code == 0
    url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert server.requests[0]["messages"][-1] == {
        "role": "user",
        "content": [
            {
                "type": "text",
                "text": f"----- IMAGE photo.png ({len(PNG)} bytes) -----\n\nWhat is it?",
            },
            {"type": "image_url", "image_url": {"url": url}},
        ],
    }


def test_vision_models_in_config_match_names_and_patterns(cli, server, files):
    (files / "home").mkdir()
    (files / "home" / "config.toml").write_text('vision_models = ["llava*", "gpt-4o"]\n')
    for model, status in (("llava:7b", 0), ("gpt-4o", 0), ("gpt-4o-mini", 2)):
        out = cli("chat", "-s", model, "-m", model, "-f", "photo.png", "hi")
        assert out.exit_code == status, model
    assert [r["model"] for r in server.requests] == ["llava:7b", "gpt-4o"]


def test_names_and_sizes_are_stored_and_shown(cli, server, files):
    cli("chat", "-s", "t", "--vision", "-f", "notes.txt", "-f", "photo.png", "Look.")
    stored = rows(files / "home", "SELECT attachments FROM runs")
    assert json.loads(stored[0][0]) == [
        {"name": "notes.txt", "size": 18, "kind": "text"},
        {"name": "photo.png", "size": len(PNG), "kind": "image", "mime": "image/png"},
    ]
    shown = cli("sessions", "show", "t").stdout
    assert f"attached: notes.txt (18 bytes), photo.png (image, {len(PNG)} bytes)\n" in shown
    document = json.loads(cli("sessions", "show", "t", "--json").stdout)
    assert [m.get("attachments") for m in document["messages"]] == [
        json.loads(stored[0][0]),
        None,
    ]
    exported = cli("sessions", "export", "t").stdout
    assert "Attached: notes.txt (18 bytes)" in exported


def test_fitting_counts_the_file_text(cli, server, files):
    (files / "big.txt").write_text("word " * 3000)
    out = cli("chat", "-s", "t", "--context-window", "1000", "-f", "big.txt", "hi")
    assert out.exit_code == 2 and "does not fit the model's context window of 1,000" in out.stderr
    assert server.requests == []
    assert rows(files / "home", "SELECT status, attachments IS NOT NULL FROM runs") == [
        ("error", 1)
    ]


def test_later_runs_see_the_file_text_in_the_history(cli, server, files):
    cli("chat", "-s", "t", "-f", "a.py", "Read this.")
    cli("chat", "-s", "t", "And now?")
    history = [m["content"] for m in server.requests[1]["messages"] if m["role"] == "user"]
    assert history == [block("a.py", "print(1)") + "\n\nRead this.", "And now?"]


# -- the REPL -------------------------------------------------------------------------
def typed(repl, keys):
    with create_pipe_input() as pipe:
        pipe.send_text(keys)
        pipe.close()
        repl._input, repl._output = pipe, DummyOutput()
        repl.run()
    return repl.env.stdout.getvalue(), repl.env.stderr.getvalue()


@pytest.fixture
def repl(model, db):
    env = Env(stdin=io.StringIO(), stdout=io.StringIO(), stderr=io.StringIO())
    agent = Agent(model=model, db=db)
    return Repl(env, db, agent, Settings(model="test-model"), user_id="sarah", session_id="t")


def test_file_command_attaches_to_the_next_message_only(repl, server, files):
    out, err = typed(repl, "/file notes.txt\r/file\rWhat is in it?\rAnd after?\r")
    assert err == (
        "attached to your next message: notes.txt (18 bytes)\n"
        "attached to your next message: notes.txt (18 bytes)\n"
    )
    contents = [r["messages"][-1]["content"] for r in server.requests]
    assert contents == [
        block("notes.txt", "line one\nline two\n") + "\n\nWhat is in it?",
        "And after?",
    ]


def test_file_command_refusals_keep_what_was_typed(repl, server, files):
    (files / "blob").write_bytes(b"\x00\x01")
    out, err = typed(repl, "/file blob\r/file photo.png\rstill here\r")
    assert err.splitlines() == [
        "agentcli: error: blob is a binary file (it holds NUL bytes): only text and images",
        "agentcli: error: photo.png is an image and model test-model is not declared to "
        "accept images: add it to vision_models in the config file, or pass --vision",
    ]
    assert [r["messages"][-1]["content"] for r in server.requests] == ["still here"]


def test_an_image_refused_at_send_time_is_stored_as_an_error_run(model, db, server):
    agent = Agent(model=model, db=db)
    photo = from_bytes("photo.png", PNG)
    with pytest.raises(Exception, match="not declared to accept images"):
        agent.run("What is it?", user_id="u", session_id="s", attachments=[photo])
    found = db.require_session("u", "s")
    messages = db.session_messages(found.pk)
    assert [(m.status, m.content) for m in messages] == [
        ("error", f"----- IMAGE photo.png ({len(PNG)} bytes) -----\n\nWhat is it?")
    ]
    assert messages[0].attachments == [photo.meta()] and server.requests == []


# -- storage ---------------------------------------------------------------------------
def test_attachments_round_trip_through_the_store_and_a_copy(db):
    meta = [{"name": "a.py", "size": 8, "kind": "text"}]
    session, run = db.begin_run("u", "s", "text", "m", "owner", attachments=meta)
    db.finish_run(run.pk, status="completed", messages=[{"role": "assistant", "content": "ok"}])
    assert [m.attachments for m in db.session_messages(session.pk)] == [meta, meta]
    assert db.get_run(run.pk).attachments == meta
    other = SqliteDb(":memory:")  # there and back: each backend reads and writes them
    other.write_session(db.read_session(session.pk))
    db.delete_session("u", "s")
    db.write_session(other.read_session(other.require_session("u", "s").pk))
    other.close()
    copied = db.require_session("u", "s")
    assert db.session_messages(copied.pk)[0].attachments == meta


def test_a_database_of_the_previous_version_is_upgraded_in_place(tmp_path, monkeypatch):
    names = [name for name, _ in MIGRATIONS]
    before = MIGRATIONS[: names.index("run_attachments")]
    path = tmp_path / "old.db"
    with monkeypatch.context() as patch:
        patch.setattr(sqlite_db, "MIGRATIONS", before)
        patch.setattr(sqlite_db, "SCHEMA_VERSION", len(before))
        old = SqliteDb(path)
        with old.transaction() as conn:
            conn.execute(
                "INSERT INTO sessions (id, user_id, session_id, created_at, updated_at) "
                "VALUES (1, 'u', 's', 'T', 'T')"
            )
            conn.execute(
                "INSERT INTO runs (id, run_id, session_pk, status, model, started_at) "
                "VALUES (1, 'r1', 1, 'completed', 'm', 'T')"
            )
            conn.execute(
                "INSERT INTO messages (run_pk, seq, role, content, created_at) "
                "VALUES (1, 0, 'user', 'old words', 'T')"
            )
        old.close()
    db = SqliteDb(path)
    assert db.schema_version() == len(MIGRATIONS)
    assert [(m.content, m.model, m.attachments) for m in db.session_messages(1)] == [
        ("old words", "m", None)
    ]
    db.close()


def test_files_without_a_message_in_a_terminal_go_with_the_first_repl_message(server, files):
    import os

    import pexpect
    from conftest import AGENTCLI, end_with_ctrl_d

    env = {**os.environ, "TERM": "xterm", "OPENAI_BASE_URL": server.url}
    child = pexpect.spawn(
        AGENTCLI,
        ["chat", "-s", "t", "--no-markdown", "-f", "a.py"],
        env=env,
        dimensions=(24, 100),
        encoding="utf-8",
        timeout=30,
    )
    child.expect_exact("attached to your first message: a.py")
    child.expect_exact("›")
    child.send("Explain.\r")
    child.expect_exact("echo:")
    child.expect_exact("›")
    end_with_ctrl_d(child)
    child.close()
    chats = [r for r in server.requests if r.purpose == "chat"]
    assert chats[0]["messages"][-1]["content"] == block("a.py", "print(1)") + "\n\nExplain."
