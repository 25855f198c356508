"""Tables as people read them: ids with escapes, wide text aligned, long cells cut."""

import io
import json

import pytest

from agentcli.adapters.sqlite import SqliteDb
from agentcli.render import MAX_CELL, MAX_ID, Env, cell_width, fit, plain_table


class Tty(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture
def store(agentcli_home):
    db = SqliteDb(agentcli_home / "agentcli.db")
    yield db
    db.close()


def add_session(db, user, session, text):
    run = db.start_run(db.ensure_session(user, session), text, "m", "here:1:1")
    db.finish_run(run.pk, status="completed", messages=[{"role": "assistant", "content": "ok"}])


def test_ids_differing_in_white_space_are_told_apart_piped(cli, store):
    for session in ("a\nb", "a\tb", "a b", "a\rb"):
        add_session(store, "tester", session, "hello")
    rows = cli("sessions", "list").stdout.splitlines()[1:]
    assert sorted(row.split("  ")[0] for row in rows) == ["a b", "a\\nb", "a\\rb", "a\\tb"]


def test_user_ids_with_line_breaks_are_escaped_in_every_users_list(cli, store):
    add_session(store, "eve\nmallory", "s", "hello")
    row = cli("sessions", "list", "--all-users").stdout.splitlines()[1]
    assert row.startswith("eve\\nmallory  s  ")


def test_ids_are_escaped_in_a_terminal_too(store):
    from agentcli import views

    add_session(store, "tester", "a\nb", "hello")
    env = Env(stdout=Tty())
    views.sessions_table(env, store.list_sessions("tester"))
    assert "a\\nb" in env.stdout.getvalue()


def test_wide_characters_are_aligned_by_display_width():
    table = plain_table(["NAME", "RUNS"], [["東京の旅", "1"], ["Oslo", "2"]])
    assert table == "NAME      RUNS\n東京の旅  1\nOslo      2\n"


def test_combining_marks_take_no_column():
    assert (cell_width("e\u0301"), cell_width("日本"), cell_width("ab")) == (1, 4, 2)


def test_cjk_session_names_line_up_in_a_listing(cli, store):
    add_session(store, "tester", "tokyo", "東京で寿司を食べたい")
    add_session(store, "tester", "oslo", "Oslo in May")
    header, *rows = cli("sessions", "list").stdout.splitlines()
    column = cell_width(header[: header.index("RUNS")])
    assert [cell_width(row[: row.index("  1  ") + 2]) for row in rows] == [column, column]


def test_a_long_id_is_cut_in_tables_and_exact_in_json(cli, store):
    long_id = "x" * 5000
    add_session(store, "tester", long_id, "hello")
    add_session(store, "tester", "short", "hello")
    out = cli("sessions", "list")
    rows = out.stdout.splitlines()
    assert max(len(row) for row in rows) < 120
    assert rows[2].startswith("x" * (MAX_ID - 1) + "…  ")
    listed = json.loads(cli("sessions", "list", "--json").stdout)
    assert sorted(s["session_id"] for s in listed) == sorted([long_id, "short"])


def test_a_long_id_is_cut_in_a_terminal_table(store):
    from agentcli import views

    add_session(store, "tester", "y" * 5000, "hello")
    env = Env(stdout=Tty())
    views.sessions_table(env, store.list_sessions("tester"))
    shown = env.stdout.getvalue()
    assert (shown.count("y"), shown.count("…")) == (MAX_ID - 1, 1)


def test_a_long_name_is_cut_at_the_wider_text_limit(cli, store):
    add_session(store, "tester", "s", "hello")
    store.rename_session("tester", "s", "word " * 1000)
    [row] = cli("sessions", "list").stdout.splitlines()[1:]
    name = [cell for cell in row.split("  ") if cell][1]
    assert (cell_width(name), name[-1]) == (MAX_CELL, "…")


def test_fit_counts_wide_characters_and_leaves_short_text_alone():
    assert fit("東京東京東京", 7) == "東京東…"
    assert fit("abc", 3) == "abc"
    assert cell_width(fit("東" * 100, MAX_CELL)) <= MAX_CELL
