"""A session's instructions, generation options, roles and named endpoints, checked
against the request bodies the loopback Chat Completions server receives."""

import json
import sqlite3
import stat
import sys

import pytest
from chat_server import ChatServer, Error, Text

from agentcli.adapters.sqlite import SqliteDb
from agentcli.adapters.sqlite.schema import MIGRATIONS
from agentcli.core.context import DEFAULT_INSTRUCTIONS

# Memory off and no summaries: the request is the instructions, history and message only.
PLAIN = ("--memory", "off", "--no-summaries")
KEY = "sk-work-secret-7731"
INLINE_KEY = "sk-inline-secret-5519"


def body(messages, **fields):
    """The exact streamed request agentcli sends (2048: the default --max-tokens)."""
    return {
        "model": "gpt-4o-mini",
        "messages": messages,
        "max_tokens": 2048,
        "stream": True,
        "stream_options": {"include_usage": True},
        **fields,
    }


def system(text):
    return {"role": "system", "content": text}


def user(text):
    return {"role": "user", "content": text}


def assistant(text):
    return {"role": "assistant", "content": text}


def config(home, text):
    home.mkdir(exist_ok=True)
    (home / "config.toml").write_text(text)


def show(cli, session):
    out = cli("sessions", "show", session, "--json")
    assert out.exit_code == 0, out.stderr
    return json.loads(out.stdout)


# -- a session keeps its instructions (--system) ---------------------------------------
def test_system_is_kept_by_the_session_and_sent_to_its_next_runs(cli, server):
    server.script(Text("Arr."), Text("Aye."))
    assert cli("chat", *PLAIN, "-s", "t", "--system", "Talk like a pirate.", "hi").exit_code == 0
    assert cli("chat", *PLAIN, "-s", "t", "again").exit_code == 0
    assert server.requests[0] == body([system("Talk like a pirate."), user("hi")])
    assert server.requests[1] == body(
        [system("Talk like a pirate."), user("hi"), assistant("Arr."), user("again")]
    )
    # Another session is not told.
    cli("chat", *PLAIN, "-s", "other", "hello")
    assert server.requests[2]["messages"][0] == system(DEFAULT_INSTRUCTIONS)


def test_changing_the_system_is_recorded_and_shown(cli, server):
    cli("chat", *PLAIN, "-s", "t", "--system", "Be brief.", "one")
    cli("chat", *PLAIN, "-s", "t", "--system", "Be verbose.", "two")
    cli("chat", *PLAIN, "-s", "t", "three")
    assert [r["messages"][0]["content"] for r in server.requests] == [
        "Be brief.",
        "Be verbose.",
        "Be verbose.",
    ]
    shown = show(cli, "t")
    assert shown["instructions"] == "Be verbose."
    assert [s["instructions"] for s in shown["run_settings"]] == [
        "Be brief.",
        "Be verbose.",
        "Be verbose.",
    ]
    plain = cli("sessions", "show", "t").stdout
    assert "instructions: Be verbose." in plain
    assert plain.count("instructions changed") == 1
    exported = json.loads(cli("sessions", "export", "t", "--format", "json").stdout)
    assert exported["instructions"] == "Be verbose."
    markdown = cli("sessions", "export", "t").stdout
    assert "## Instructions\n\nBe verbose.\n" in markdown


def test_an_empty_system_goes_back_to_the_default(cli, server):
    cli("chat", *PLAIN, "-s", "t", "--system", "Be brief.", "one")
    cli("chat", *PLAIN, "-s", "t", "--system", "", "two")
    cli("chat", *PLAIN, "-s", "t", "three")
    assert [r["messages"][0]["content"] for r in server.requests][1:] == [DEFAULT_INSTRUCTIONS] * 2
    assert show(cli, "t")["instructions"] is None


def test_system_from_config_and_environment(cli, server, agentcli_home):
    config(agentcli_home, 'system = "From the file."\n')
    cli("chat", *PLAIN, "-s", "a", "one")
    cli("chat", *PLAIN, "-s", "b", "two", env={"AGENTCLI_SYSTEM": "From the env."})
    cli("chat", *PLAIN, "-s", "c", "--system", "From the flag.", "three")
    assert [r["messages"][0]["content"] for r in server.requests] == [
        "From the file.",
        "From the env.",
        "From the flag.",
    ]
    # The configured instructions are recorded with the run, not kept by the session.
    shown = show(cli, "a")
    assert shown["instructions"] is None
    assert shown["run_settings"][0]["instructions"] == "From the file."


def test_the_repl_sends_the_stored_instructions(server, db, agentcli_home):
    from agentcli.config import load_settings
    from agentcli.runtime import build_agent

    settings = load_settings(memory="off", summaries=False)
    build_agent(settings, db, instructions="Only French.").run("hi", user_id="u", session_id="s")
    build_agent(settings, db).run("encore", user_id="u", session_id="s")
    assert server.requests[1]["messages"][0] == system("Only French.")
    assert db.get_session("u", "s").instructions == "Only French."


def test_a_version_3_database_gets_the_new_columns_in_place(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    for _, sql in MIGRATIONS[:3]:
        conn.executescript(sql)
    conn.execute("PRAGMA user_version = 3")
    conn.execute(
        "INSERT INTO sessions (user_id, session_id, created_at, updated_at) "
        "VALUES ('u', 's', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')"
    )
    conn.commit()
    conn.close()
    with SqliteDb(path) as db:
        assert db.schema_version() == len(MIGRATIONS)
        found = db.get_session("u", "s")
        assert (found.instructions, found.role) == (None, None)
        session, run = db.begin_run("u", "s", "hi", "m", "o", instructions="Be kind.")
        db.finish_run(run.pk, status="completed", settings={"options": {"seed": 1}})
        assert db.get_session("u", "s").instructions == "Be kind."
        assert db.run_settings(session.pk) == {run.run_id: {"options": {"seed": 1}}}


def test_the_store_keeps_instructions_role_and_run_settings(db):
    session, run = db.begin_run("u", "s", "hi", "m", "o", instructions="A", role="r")
    assert (session.instructions, session.role) == ("A", "r")
    db.finish_run(run.pk, status="completed", settings={"role": "r", "options": {"top_p": 0.5}})
    session, second = db.begin_run("u", "s", "again", "m", "o")
    assert (session.instructions, session.role) == ("A", "r")  # None: unchanged
    db.finish_run(second.pk, status="error", error="x")
    session, _ = db.begin_run("u", "s", "third", "m", "o", instructions="", role="")
    assert (session.instructions, session.role) == (None, None)
    assert db.get_session("u", "s")[10:] == (None, None)
    assert db.run_settings(session.pk) == {run.run_id: {"role": "r", "options": {"top_p": 0.5}}}


# -- generation options ------------------------------------------------------------------
def test_generation_flags_and_o_fields_are_sent_exactly(cli, server):
    out = cli(
        "chat",
        *PLAIN,
        "-s",
        "t",
        "--temperature",
        "0.3",
        "--top-p",
        "0.9",
        "--seed",
        "42",
        "--max-tokens",
        "100",
        "-o",
        "presence_penalty=0.5",
        "-o",
        'stop=["END"]',
        "-o",
        "user=plain text",
        "hi",
    )
    assert out.exit_code == 0, out.stderr
    assert server.requests[0] == {
        **body([system(DEFAULT_INSTRUCTIONS), user("hi")]),
        "max_tokens": 100,
        "temperature": 0.3,
        "top_p": 0.9,
        "seed": 42,
        "presence_penalty": 0.5,
        "stop": ["END"],
        "user": "plain text",
    }
    settings = show(cli, "t")["run_settings"][0]
    assert settings["options"] == {
        "max_tokens": 100,
        "temperature": 0.3,
        "top_p": 0.9,
        "seed": 42,
        "presence_penalty": 0.5,
        "stop": ["END"],
        "user": "plain text",
    }
    assert "temperature=0.3" in cli("sessions", "show", "t").stdout


def test_options_are_not_sent_to_memory_manager_calls(cli, server):
    cli("chat", "--memory", "automatic", "--no-summaries", "-s", "t", "--seed", "7", "I am Ann.")
    chats = [r for r in server.requests if r.purpose == "chat"]
    others = [r for r in server.requests if r.purpose != "chat"]
    assert chats and all(r["seed"] == 7 for r in chats)
    assert others and all("seed" not in r for r in others)


def test_options_from_config_table_and_environment(cli, server, agentcli_home):
    config(agentcli_home, "temperature = 1.5\n[options]\nfrequency_penalty = 0.2\nseed = 3\n")
    cli("chat", *PLAIN, "-s", "t", "hi", env={"AGENTCLI_TOP_P": "0.25"})
    cli("chat", *PLAIN, "-s", "t", "-o", "seed=9", "--temperature", "0", "again")
    first, second = server.requests
    assert {k: first[k] for k in ("temperature", "top_p", "seed", "frequency_penalty")} == {
        "temperature": 1.5,
        "top_p": 0.25,
        "seed": 3,
        "frequency_penalty": 0.2,
    }
    assert {k: second[k] for k in ("temperature", "seed", "frequency_penalty")} == {
        "temperature": 0.0,
        "seed": 9,
        "frequency_penalty": 0.2,
    }
    assert "top_p" not in second


@pytest.mark.parametrize(
    ("args", "env", "file", "expected"),
    [
        (("--temperature", "2.5"), {}, "", "temperature must be 0 to 2, got 2.5 (from --temp"),
        (("--top-p", "-0.1"), {}, "", "top p must be 0 to 1, got -0.1 (from --top-p)"),
        ((), {"AGENTCLI_TEMPERATURE": "nan"}, "", "(from env AGENTCLI_TEMPERATURE)"),
        ((), {"AGENTCLI_SEED": "1.5"}, "", "seed must be a whole number, got '1.5' (from AGENTC"),
        ((), {}, "top_p = 3\n", "top p must be 0 to 1, got 3 (from /"),
        ((), {}, '[options]\nseed = "x"\n', "got 'x' (from [options] in /"),
        (("-o", "temperature=9"), {}, "", "got 9 (from -o temperature)"),
        (("-o", "novalue"), {}, "", "-o takes KEY=VALUE, got 'novalue'"),
        (
            ("-o", "model=x"),
            {},
            "",
            "model cannot be set as an option (from -o model); use --model",
        ),
        (("-o", "stream=false"), {}, "", "stream cannot be set as an option"),
    ],
)
def test_invalid_options_are_usage_errors_naming_their_source(
    cli, server, agentcli_home, args, env, file, expected
):
    if file:
        config(agentcli_home, file)
    out = cli("chat", *PLAIN, "-s", "t", *args, "hi", env=env)
    assert out.exit_code == 2
    assert out.stderr.startswith("agentcli: error: ") and expected in out.stderr
    assert out.stderr.count("\n") == 1
    assert server.requests == []


# -- roles -----------------------------------------------------------------------------
ROLES_TOML = """
model = "file-model"
temperature = 1.0

[roles.reviewer]
system = "You review code. Be blunt."
model = "review-model"
temperature = 0.1
max_tokens = 300
options = { presence_penalty = 0.4 }
"""

POET = """---
# a role file
temperature: 1.2
top_p: 0.8
memory: off
options: {"stop": ["\\n\\n"]}
---
You answer in verse.
"""


@pytest.fixture
def roles(agentcli_home):
    config(agentcli_home, ROLES_TOML)
    (agentcli_home / "roles").mkdir()
    (agentcli_home / "roles" / "poet.md").write_text(POET)
    return agentcli_home


def test_a_config_role_sets_instructions_model_and_options(cli, server, roles):
    out = cli("chat", "--no-summaries", "--memory", "off", "-s", "t", "--role", "reviewer", "hi")
    assert out.exit_code == 0, out.stderr
    assert server.requests[0] == {
        **body([system("You review code. Be blunt."), user("hi")]),
        "model": "review-model",
        "max_tokens": 300,
        "temperature": 0.1,
        "presence_penalty": 0.4,
    }


def test_a_role_file_with_front_matter(cli, server, roles):
    out = cli("chat", "--no-summaries", "-s", "t", "--role", "poet", "hi")
    assert out.exit_code == 0, out.stderr
    assert server.requests[0] == {
        **body([system("You answer in verse."), user("hi")]),
        "model": "file-model",
        "temperature": 1.2,
        "top_p": 0.8,
        "stop": ["\n\n"],
    }
    # memory: off from the role: no tools were offered, no manager call made.
    assert [r.purpose for r in server.requests] == ["chat"]


def test_flags_beat_the_role(cli, server, roles):
    cli(
        "chat",
        *PLAIN,
        "-s",
        "t",
        "--role",
        "reviewer",
        "-m",
        "flag-model",
        "--temperature",
        "0.7",
        "--system",
        "Flag wins.",
        "hi",
    )
    sent = server.requests[0]
    assert (sent["model"], sent["temperature"], sent["messages"][0]["content"]) == (
        "flag-model",
        0.7,
        "Flag wins.",
    )
    assert sent["max_tokens"] == 300  # from the role: not given as a flag


def test_a_session_remembers_its_role(cli, server, roles):
    cli("chat", *PLAIN, "-s", "t", "--role", "reviewer", "one")
    cli("chat", *PLAIN, "-s", "t", "two")
    second = server.requests[1]
    assert (second["model"], second["temperature"], second["messages"][0]["content"]) == (
        "review-model",
        0.1,
        "You review code. Be blunt.",
    )
    shown = show(cli, "t")
    assert shown["role"] == "reviewer"
    assert [s["role"] for s in shown["run_settings"]] == ["reviewer", "reviewer"]
    assert "role reviewer" in cli("sessions", "show", "t").stdout
    # --role "" drops it: the file's model and the default instructions come back.
    cli("chat", *PLAIN, "-s", "t", "--role", "", "three")
    third = server.requests[2]
    assert (third["model"], third["messages"][0]["content"]) == ("file-model", DEFAULT_INSTRUCTIONS)
    assert show(cli, "t")["role"] is None


def test_an_unknown_role_is_one_line_listing_the_known_ones(cli, server, roles):
    out = cli("chat", *PLAIN, "-s", "t", "--role", "nobody", "hi")
    assert (out.exit_code, out.stderr) == (
        2,
        "agentcli: error: unknown role 'nobody' (known roles: poet, reviewer)\n",
    )
    assert server.requests == []
    assert cli("roles", "show", "nobody").exit_code == 2


def test_roles_list_and_show(cli, roles):
    listed = json.loads(cli("roles", "list", "--json").stdout)
    assert [r["name"] for r in listed] == ["poet", "reviewer"]
    assert listed[0] == {
        "name": "poet",
        "system": "You answer in verse.",
        "temperature": 1.2,
        "top_p": 0.8,
        "memory": "off",
        "options": {"stop": ["\n\n"]},
        "file": str(roles / "roles" / "poet.md"),
    }
    plain = cli("roles", "list").stdout
    assert plain.splitlines()[0].split() == ["ROLE", "MODEL", "INSTRUCTIONS", "FILE"]
    assert "review-model" in plain
    shown = cli("roles", "show", "reviewer")
    assert shown.exit_code == 0 and "You review code. Be blunt." in shown.stdout
    assert json.loads(cli("roles", "show", "reviewer", "--json").stdout)["model"] == "review-model"


def test_roles_edit_creates_the_file_with_the_editor(cli, agentcli_home, tmp_path):
    editor = tmp_path / "editor.py"
    editor.write_text(
        "import sys\nopen(sys.argv[1], 'w').write('---\\nseed: 5\\n---\\nYou are terse.\\n')\n"
    )
    out = cli("roles", "edit", "terse", env={"EDITOR": f"{sys.executable} {editor}"})
    assert out.exit_code == 0, out.stderr
    path = agentcli_home / "roles" / "terse.md"
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    shown = json.loads(cli("roles", "show", "terse", "--json").stdout)
    assert (shown["system"], shown["seed"]) == ("You are terse.", 5)
    bad = cli("roles", "edit", "../x", env={"EDITOR": "true"})
    assert bad.exit_code == 2 and "invalid role name" in bad.stderr


def test_a_broken_role_file_names_the_file(cli, server, roles):
    (roles / "roles" / "bad.md").write_text("---\ncolour: red\n---\nHi\n")
    out = cli("chat", *PLAIN, "-s", "t", "--role", "poet", "hi")
    assert out.exit_code == 2
    assert "unknown key 'colour'" in out.stderr and "bad.md" in out.stderr


def test_the_repl_role_command(server, db, roles):
    import io

    from agentcli.config import load_settings
    from agentcli.render import Env
    from agentcli.repl import Repl
    from agentcli.runtime import build_agent

    err, out = io.StringIO(), io.StringIO()
    env = Env(stdout=out, stderr=err, stdin=io.StringIO())
    settings = load_settings(memory="off", summaries=False)

    def use_role(name, kept):
        chosen = load_settings(role=name, memory="off", summaries=False) if name else settings
        return chosen, build_agent(chosen, db, role=None if kept else name)

    repl = Repl(
        env, db, build_agent(settings, db), settings, user_id="u", session_id="s", use_role=use_role
    )
    repl.handle("/role")
    assert "no role" in err.getvalue()
    repl.handle("/role reviewer")
    repl.handle("hello")
    assert server.requests[0]["model"] == "review-model"
    assert server.requests[0]["messages"][0] == system("You review code. Be blunt.")
    repl.handle("/role")
    assert "role reviewer · model review-model" in err.getvalue()
    repl.handle("/role nobody")
    assert "unknown role 'nobody'" in err.getvalue()
    assert db.get_session("u", "s").role == "reviewer"
    # /switch brings back each session's own role; /new keeps the current one.
    db.begin_run("u", "plain", "earlier", "m", "o")
    repl.handle("/switch plain")
    repl.handle("hi")
    assert server.requests[-1]["model"] == "file-model"
    assert db.get_session("u", "plain").role is None
    repl.handle("/switch s")
    repl.handle("back")
    assert server.requests[-1]["model"] == "review-model"
    repl.handle("/role poet")
    repl.handle("/new fresh")
    repl.handle("a poem")
    assert server.requests[-1]["messages"][0] == system("You answer in verse.")
    assert db.get_session("u", "fresh").role == "poet"


# -- named endpoints ------------------------------------------------------------------------
def test_named_endpoints_choose_url_key_and_model(run_cli, agentcli_home, monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with ChatServer() as local, ChatServer() as work:
        config(
            agentcli_home,
            f'endpoint = "local"\n'
            f'[endpoints.local]\nbase_url = "{local.url}"\nmodel = "llama3.2"\n'
            f'[endpoints.work]\nbase_url = "{work.url}"\napi_key_env = "WORK_KEY"\n'
            f'[endpoints.inline]\nbase_url = "{work.url}"\napi_key = "{INLINE_KEY}"\n',
        )
        env = {"WORK_KEY": KEY}
        first = run_cli("chat", *PLAIN, "-s", "t", "hi", env=env)
        second = run_cli("chat", *PLAIN, "-s", "t", "--endpoint", "work", "-m", "big", "x", env=env)
        third = run_cli("chat", *PLAIN, "-s", "u", "y", env={**env, "AGENTCLI_ENDPOINT": "work"})
        for done in (first, second, third):
            assert done.returncode == 0, done.stderr
        assert local.requests[0] == {
            **body([system(DEFAULT_INSTRUCTIONS), user("hi")]),
            "model": "llama3.2",
        }
        assert [r["model"] for r in work.requests] == ["big", "gpt-4o-mini"]
        headers = {k.lower(): v for k, v in work.headers[0].items()}
        assert headers["authorization"] == f"Bearer {KEY}"
        shown = run_cli("config", "show", "--json", env={**env, "AGENTCLI_ENDPOINT": "work"})
        assert shown.returncode == 0
        assert json.loads(shown.stdout)["settings"]["api_key"] == {
            "value": "(set)",
            "source": "endpoint work",
        }
        inline = run_cli("chat", *PLAIN, "-s", "v", "--endpoint", "inline", "z")
        assert inline.returncode == 0, inline.stderr
        headers = {k.lower(): v for k, v in work.headers[-1].items()}
        assert headers["authorization"] == f"Bearer {INLINE_KEY}"
        # A server that echoes the key in its refusal: the key is not repeated.
        work.script(Error(401, f"Incorrect API key provided: {KEY}"))
        refused = run_cli("chat", *PLAIN, "-s", "w", "--endpoint", "work", "q", env=env)
        assert refused.returncode == 1 and "HTTP 401" in refused.stderr.decode()
        done = (first, second, third, shown, inline, refused)
        outputs = b"".join(d.stdout + d.stderr for d in done)
    assert KEY.encode() not in outputs and INLINE_KEY.encode() not in outputs
    for path in agentcli_home.rglob("*"):
        if path.is_file() and path.name != "config.toml":
            assert KEY.encode() not in path.read_bytes(), path
            assert INLINE_KEY.encode() not in path.read_bytes(), path


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (
            ("--endpoint", "nowhere"),
            {},
            "agentcli: error: unknown endpoint 'nowhere' (known endpoints: work)\n",
        ),
        (
            ("--endpoint", "work"),
            {},
            "agentcli: error: endpoint 'work' reads its API key from the environment variable "
            "WORK_KEY, which is not set\n",
        ),
        ((), {"AGENTCLI_ENDPOINT": "nowhere"}, "unknown endpoint 'nowhere'"),
    ],
)
def test_unknown_endpoint_or_missing_key_is_one_line(
    run_cli, server, agentcli_home, args, env, expected
):
    config(
        agentcli_home,
        '[endpoints.work]\nbase_url = "http://127.0.0.1:9/v1"\napi_key_env = "WORK_KEY"\n',
    )
    done = run_cli("chat", *PLAIN, "-s", "t", *args, "hi", env=env)
    assert done.returncode == 2
    assert expected in done.stderr.decode() and done.stderr.decode().count("\n") == 1
    assert server.requests == []


def test_doctor_and_serve_take_an_endpoint(cli, server, agentcli_home):
    config(agentcli_home, f'[endpoints.local]\nbase_url = "{server.url}"\nmodel = "tiny"\n')
    out = cli("doctor", "--endpoint", "local", "--json")
    assert json.loads(out.stdout)["model"] == "tiny"
    assert json.loads(out.stdout)["endpoint"] == server.url
    bad = cli("serve", "--endpoint", "nowhere")
    assert bad.exit_code == 2 and "unknown endpoint 'nowhere'" in bad.stderr


def test_a_version_1_postgres_schema_gets_the_new_columns_in_place(pg_server, monkeypatch):
    import uuid

    import psycopg

    from agentcli.adapters.postgres import PostgresDb
    from agentcli.adapters.postgres import db as pg_db

    schema = f"s_{uuid.uuid4().hex[:10]}"
    try:
        with monkeypatch.context() as patch:
            patch.setattr(pg_db, "MIGRATIONS", pg_db.MIGRATIONS[:1])
            patch.setattr(pg_db, "SCHEMA_VERSION", 1)
            with PostgresDb(db_url=pg_server, db_schema=schema) as old:
                assert old.schema_version() == 1
                old.execute(
                    "INSERT INTO sessions (user_id, session_id, created_at, updated_at) "
                    "VALUES ('u', 's', now(), now())"
                )
        with PostgresDb(db_url=pg_server, db_schema=schema) as db:
            assert db.schema_version() == len(pg_db.MIGRATIONS)
            assert db.get_session("u", "s")[10:] == (None, None)
            session, run = db.begin_run("u", "s", "hi", "m", "o", instructions="Be kind.", role="r")
            db.finish_run(run.pk, status="completed", settings={"options": {"seed": 1}})
            assert (session.instructions, session.role) == ("Be kind.", "r")
            assert db.run_settings(session.pk) == {run.run_id: {"options": {"seed": 1}}}
    finally:
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def test_a_session_deleted_mid_reply_is_recreated_with_its_instructions_and_role(server, db):
    from agentcli.config import load_settings
    from agentcli.runtime import build_agent

    settings = load_settings(memory="off", summaries=False)
    agent = build_agent(settings, db, instructions="Stay calm.")
    agent.role = "helper"
    agent.run("one", user_id="u", session_id="s")

    def delete_then_answer(request):
        db.delete_session("u", "s")
        return Text("still here")

    server.script(delete_then_answer)
    build_agent(settings, db).run("two", user_id="u", session_id="s")
    again = db.get_session("u", "s")
    assert (again.instructions, again.role, again.runs) == ("Stay calm.", "helper", 1)
    assert server.requests[1]["messages"][0] == system("Stay calm.")


def test_an_endpoint_key_in_a_file_others_can_read_is_warned_about(cli, agentcli_home):
    agentcli_home.mkdir(mode=0o700)
    path = agentcli_home / "config.toml"
    path.write_text(f'[endpoints.work]\nbase_url = "http://127.0.0.1:9/v1"\napi_key = "{KEY}"\n')
    path.chmod(0o644)
    out = cli("sessions", "list", "--json")
    assert out.exit_code == 0
    assert out.stderr == (
        f"agentcli: warning: config file {path} holds api_key and can be read by others "
        f"(mode 0644); make it private: chmod 600 {path}\n"
    )
    assert KEY not in out.stderr
