import json
import os
import stat

import pytest

from agentcli.adapters.sqlite import SqliteDb, Usage


@pytest.fixture
def store(agentcli_home):
    db = SqliteDb(agentcli_home / "agentcli.db")
    yield db
    db.close()


def add_run(db, user, session, text, *replies, status="completed"):
    found = db.ensure_session(user, session)
    run = db.start_run(found, text, "test-model", "test-host:1:1")
    if status != "running":
        db.finish_run(run.pk, status=status, messages=replies, usage=Usage(10, 5, 1))
    return run


def reply(text):
    return {"role": "assistant", "content": text}


def stamp(db):
    """Fixed timestamps: message N at 10:NN; a session spans its messages."""
    with db.transaction() as conn:
        conn.execute("UPDATE messages SET created_at = printf('2026-01-02T10:%02d:00.000Z', id)")
        for col, fn in (("created_at", "min"), ("updated_at", "max")):
            conn.execute(
                f"UPDATE sessions SET {col} = (SELECT {fn}(m.created_at) FROM messages m "
                "JOIN runs r ON r.id = m.run_pk WHERE r.session_pk = sessions.id)"
            )


@pytest.fixture
def threads(store):
    add_run(store, "tester", "tea", "I like tea", reply("Noted: **tea**."))
    add_run(store, "tester", "tea", "And coffee?", reply("Cof"), status="cancelled")
    add_run(store, "tester", "trip", "Plan a trip to Oslo", reply("Oslo in May."))
    add_run(store, "bob", "tea", "bob's tea secret", reply("ok"))
    stamp(store)
    return store


def test_list_is_newest_first_for_one_user(cli, threads):
    out = cli("sessions", "list")
    assert (out.exit_code, out.stdout) == (
        0,
        "SESSION  NAME                 RUNS  LAST USED\n"
        "trip     Plan a trip to Oslo  1     2026-01-02 10:06Z\n"
        "tea      I like tea           2     2026-01-02 10:04Z\n",
    )


def test_list_json(cli, threads):
    out = cli("sessions", "list", "--limit", "1", "--json")
    assert json.loads(out.stdout) == [
        {
            "user_id": "tester",
            "session_id": "trip",
            "name": "Plan a trip to Oslo",
            "runs": 1,
            "created_at": "2026-01-02T10:05:00.000Z",
            "updated_at": "2026-01-02T10:06:00.000Z",
        }
    ]


def test_list_all_users_adds_the_user_column(cli, threads):
    out = cli("sessions", "list", "--all-users")
    assert out.stdout.splitlines() == [
        "USER    SESSION  NAME                 RUNS  LAST USED",
        "bob     tea      bob's tea secret     1     2026-01-02 10:08Z",
        "tester  trip     Plan a trip to Oslo  1     2026-01-02 10:06Z",
        "tester  tea      I like tea           2     2026-01-02 10:04Z",
    ]


def test_list_user_and_all_users_conflict(cli, threads):
    out = cli("sessions", "list", "--user", "bob", "--all-users")
    assert (out.exit_code, out.stderr) == (
        2,
        "agentcli: error: --user and --all-users cannot be used together\n",
    )


def test_a_cut_list_says_how_many_there_are(cli, store):
    for n in range(25):
        add_run(store, "tester", f"s{n}", "hello", reply("hi"))
    out = cli("sessions", "list")
    assert (len(out.stdout.splitlines()), out.stderr) == (
        21,
        "20 of 25 sessions shown; -n 0 shows all\n",
    )
    out = cli("sessions", "list", "-n", "0")
    assert (len(out.stdout.splitlines()), out.stderr) == (26, "")
    out = cli("sessions", "list", "--json")
    assert (len(json.loads(out.stdout)), out.stderr) == (20, "")
    assert cli("sessions", "list", "-n", "25").stderr == ""


def test_a_cut_list_of_every_user_counts_every_user(cli, store):
    for user in ("ann", "bob", "cid"):
        add_run(store, user, "s", "hello", reply("hi"))
    out = cli("sessions", "list", "--all-users", "-n", "2")
    assert out.stderr == "2 of 3 sessions shown; -n 0 shows all\n"


@pytest.mark.parametrize(
    ("command", "extra", "shown"),
    [("show", "--json", '"trip"'), ("export", "-fmd", "Oslo in May."), ("delete", "--yes", "trip")],
)
def test_the_session_may_be_given_with_s_too(cli, threads, command, extra, shown):
    out = cli("sessions", command, "-s", "trip", extra)
    assert (out.exit_code, out.stderr, shown in out.stdout) == (0, "", True)
    missing = cli("sessions", command)
    assert (missing.exit_code, missing.stderr) == (
        2,
        "agentcli: error: missing the session id: give it as an argument or with --session\n",
    )


def test_list_without_sessions(cli, store):
    out = cli("sessions", "list")
    assert (out.exit_code, out.stdout, out.stderr) == (0, "", "no sessions\n")


def test_show_marks_cancelled_runs_and_puts_the_summary_first(cli, threads):
    threads.execute("UPDATE sessions SET summary = 'They met.' WHERE session_id = 'tea'")
    out = cli("sessions", "show", "tea")
    assert (out.exit_code, out.stdout) == (
        0,
        "tea · I like tea\n"
        "user tester · 2 runs\n"
        "\n"
        "summary of the earlier conversation\n"
        "They met.\n"
        "\n"
        "user · 2026-01-02 10:01Z\n"
        "I like tea\n"
        "\n"
        "assistant · 2026-01-02 10:02Z · test-model\n"
        "Noted: **tea**.\n"
        "\n"
        "user · 2026-01-02 10:03Z · cancelled\n"
        "And coffee?\n"
        "\n"
        "assistant · 2026-01-02 10:04Z · test-model\n"
        "Cof\n"
        "\n",
    )


def test_show_json(cli, threads):
    data = json.loads(cli("sessions", "show", "tea", "--json", "--last", "1").stdout)
    run_id = threads.execute("SELECT run_id FROM runs WHERE id = 2").fetchone()[0]
    assert data == {
        "user_id": "tester",
        "session_id": "tea",
        "name": "I like tea",
        "created_at": "2026-01-02T10:01:00.000Z",
        "updated_at": "2026-01-02T10:04:00.000Z",
        "summary": None,
        "instructions": None,
        "role": None,
        "run_settings": [],
        "messages": [
            {
                "run_id": run_id,
                "role": "user",
                "content": "And coffee?",
                "created_at": "2026-01-02T10:03:00.000Z",
                "status": "cancelled",
                "model": "test-model",
                "attachments": [],
            },
            {
                "run_id": run_id,
                "role": "assistant",
                "content": "Cof",
                "created_at": "2026-01-02T10:04:00.000Z",
                "status": "cancelled",
                "model": "test-model",
            },
        ],
    }


def test_show_marks_a_run_whose_process_died_as_interrupted(cli, store):
    add_run(store, "tester", "crash", "lost reply", status="running")
    store.execute("UPDATE runs SET owner = 'nohost:1:1'")  # not this host: left alone
    add_run(store, "tester", "crash", "killed", status="running")  # this host, dead pid
    store.execute("UPDATE runs SET owner = ? WHERE id = 2", (f"{os.uname().nodename}:999999:1",))
    out = cli("sessions", "show", "crash", "--json")
    assert [m["status"] for m in json.loads(out.stdout)["messages"]] == ["running", "interrupted"]
    assert store.execute("SELECT status FROM runs ORDER BY id").fetchall() == [
        ("running",),
        ("interrupted",),
    ]


def test_show_is_scoped_to_the_user(cli, threads):
    assert "bob's tea secret" not in cli("sessions", "show", "tea").stdout
    assert "bob's tea secret" in cli("sessions", "show", "tea", "-u", "bob").stdout


def test_unknown_session_is_one_line_and_exit_1(cli, threads):
    for command in ("show", "delete", "export"):
        out = cli("sessions", command, "nope")
        assert (out.exit_code, out.stderr) == (
            1,
            "agentcli: error: no session 'nope' for user 'tester'\n",
        )


def test_rename(cli, threads):
    out = cli("sessions", "rename", "tea", "Hot drinks")
    assert (out.exit_code, out.stdout) == (0, "renamed tea: Hot drinks\n")
    names = "SELECT user_id, name FROM sessions WHERE session_id = 'tea' ORDER BY id"
    assert threads.execute(names).fetchall() == [
        ("tester", "Hot drinks"),
        ("bob", "bob's tea secret"),
    ]


def test_rename_json_and_empty_name(cli, threads):
    assert json.loads(cli("sessions", "rename", "trip", "Oslo", "--json").stdout)["name"] == "Oslo"
    out = cli("sessions", "rename", "trip", "  ")
    assert (out.exit_code, out.stderr) == (2, "agentcli: error: the name must not be empty\n")


def test_delete_removes_runs_and_messages_but_keeps_memories(cli, threads):
    threads.execute(
        "INSERT INTO memories (user_id, memory, normalized, created_at, updated_at, "
        "created_session_id) VALUES ('tester', 'Likes tea', 'likes tea', 'x', 'x', 'tea')"
    )
    out = cli("sessions", "delete", "tea", "--yes")
    assert (out.exit_code, out.stdout) == (0, "deleted session tea (2 runs)\n")
    assert threads.execute("SELECT user_id, session_id FROM sessions ORDER BY id").fetchall() == [
        ("tester", "trip"),
        ("bob", "tea"),
    ]
    assert threads.execute("SELECT count(*) FROM runs").fetchone() == (2,)
    assert threads.execute("SELECT content FROM messages WHERE run_pk <= 2").fetchall() == []
    assert threads.execute("SELECT memory FROM memories").fetchall() == [("Likes tea",)]


def test_delete_without_a_terminal_needs_yes(cli, threads):
    out = cli("sessions", "delete", "tea")
    assert (out.exit_code, out.stderr) == (
        2,
        "agentcli: error: refusing to proceed without confirmation: pass --yes\n",
    )
    assert threads.execute("SELECT count(*) FROM sessions").fetchone() == (3,)


def test_delete_json(cli, threads):
    data = json.loads(cli("sessions", "delete", "trip", "-y", "--json").stdout)
    assert (data["session_id"], data["runs"]) == ("trip", 1)


def test_export_markdown(cli, threads):
    out = cli("sessions", "export", "tea")
    assert out.stdout == (
        "# I like tea\n"
        "\n"
        "- user: tester\n"
        "- session: tea\n"
        "- created: 2026-01-02T10:01:00.000Z\n"
        "- updated: 2026-01-02T10:04:00.000Z\n"
        "\n"
        "## user · 2026-01-02T10:01:00.000Z\n"
        "\n"
        "I like tea\n"
        "\n"
        "## assistant · 2026-01-02T10:02:00.000Z · test-model\n"
        "\n"
        "Noted: **tea**.\n"
        "\n"
        "## user · 2026-01-02T10:03:00.000Z · cancelled\n"
        "\n"
        "And coffee?\n"
        "\n"
        "## assistant · 2026-01-02T10:04:00.000Z · test-model · cancelled\n"
        "\n"
        "Cof\n"
    )


def test_export_json_to_a_private_file_keeps_tool_calls(cli, store, tmp_path):
    call = {"id": "c1", "type": "function", "function": {"name": "add_memory", "arguments": "{}"}}
    add_run(
        store,
        "tester",
        "tools",
        "remember",
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "ok"},
        reply("Done."),
    )
    target = tmp_path / "out.json"
    out = cli("sessions", "export", "tools", "--format", "json", "-o", str(target))
    assert (out.exit_code, out.stdout, out.stderr) == (0, "", f"exported tools to {target}\n")
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    messages = json.loads(target.read_text())["messages"]
    assert [(m["role"], m["content"], m["tool_calls"], m["tool_call_id"]) for m in messages] == [
        ("user", "remember", None, None),
        ("assistant", None, [call], None),
        ("tool", "ok", None, "c1"),
        ("assistant", "Done.", None, None),
    ]


def test_search_ranks_and_scopes_to_the_user(cli, threads):
    out = cli("sessions", "search", "tea")
    assert out.stdout == (
        "SESSION  ROLE       WHEN               MATCH\n"
        "tea      assistant  2026-01-02 10:02Z  Noted: **tea**.\n"
        "tea      user       2026-01-02 10:01Z  I like tea\n"
    )


def test_search_json_gives_the_highlighted_spans(cli, threads):
    data = json.loads(cli("sessions", "search", "oslo", "--all-users", "--json").stdout)
    assert [(h["user_id"], h["role"], h["snippet"], h["highlights"]) for h in data] == [
        ("tester", "assistant", "Oslo in May.", [[0, 4]]),
        ("tester", "user", "Plan a trip to Oslo", [[15, 19]]),
    ]


def test_search_all_users_and_no_matches(cli, threads):
    out = cli("sessions", "search", "secret", "--all-users")
    assert out.stdout.splitlines()[1].startswith("bob   tea      user  2026-01-02 10:07Z")
    out = cli("sessions", "search", "secret")
    assert (out.exit_code, out.stdout, out.stderr) == (0, "", "no matches\n")


def test_search_highlights_the_match_in_a_terminal(threads, capsys):
    import io

    from agentcli import views
    from agentcli.render import Env

    class Tty(io.StringIO):
        def isatty(self):
            return True

    env = Env(stdout=Tty())
    views.search_table(env, threads.search_messages("coffee", "tester"))
    assert "\x1b[1;33mcoffee\x1b[0m" in env.stdout.getvalue()


def test_list_for_another_user(cli, threads):
    out = cli("sessions", "list", "--user", "bob")
    assert out.stdout == (
        "SESSION  NAME              RUNS  LAST USED\n"
        "tea      bob's tea secret  1     2026-01-02 10:08Z\n"
    )


def test_delete_asks_in_a_terminal(store, threads, agentcli_home):
    import pexpect
    from conftest import AGENTCLI

    child = pexpect.spawn(AGENTCLI, ["sessions", "delete", "tea"], encoding="utf-8", timeout=30)
    child.expect_exact("Delete session tea (2 runs) of tester? [y/N]: ")
    child.sendline("n")
    child.expect_exact("nothing deleted")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1
    assert threads.execute("SELECT count(*) FROM runs").fetchone() == (4,)


def test_stored_escapes_and_markup_are_shown_literally_in_a_terminal(store):
    import io

    from agentcli import views
    from agentcli.render import Env

    class Tty(io.StringIO):
        def isatty(self):
            return True

    add_run(store, "tester", "evil", "\x1b]0;title\x07[bold red]hi[/]", reply("\x1b[31mred"))
    env = Env(stdout=Tty())
    found = store.get_session("tester", "evil")
    views.show_session(env, found, store.session_messages(found.pk))
    shown = env.stdout.getvalue()
    assert "\\x1b]0;title\\x07[bold red]hi[/]" in shown and "\\x1b[31mred" in shown
    assert "\x1b]" not in shown and "\x1b[31m" not in shown


def test_show_marks_a_run_whose_process_is_gone_as_interrupted(cli, store):
    import socket
    import subprocess

    with subprocess.Popen(["true"]) as gone:  # a process that has ended
        pass
    found = store.ensure_session("tester", "t")
    store.start_run(found, "lost words", "test-model", f"{socket.gethostname()}:{gone.pid}:")
    out = cli("sessions", "show", "t", "--json")
    assert [m["status"] for m in json.loads(out.stdout)["messages"]] == ["interrupted"]


def test_a_cut_search_says_so(cli, store):
    for n in range(4):
        add_run(store, "tester", f"s{n}", f"tulips number {n}", reply("noted"))
    out = cli("sessions", "search", "tulips", "-n", "3")
    assert (out.exit_code, out.stderr) == (0, "the best 3 matches shown; -n 0 shows all\n")
    assert cli("sessions", "search", "tulips", "-n", "4").stderr == ""
    assert cli("sessions", "search", "tulips", "-n", "0").stderr == ""
    out = cli("sessions", "search", "tulips", "-n", "3", "--json")
    assert (len(json.loads(out.stdout)), out.stderr) == (3, "")
