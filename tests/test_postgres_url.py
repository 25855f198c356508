"""Choosing the backend: file paths and PostgreSQL URLs, and passwords never shown."""

import json
import os

import pytest

from agentcli.core.dburl import is_postgres_url, parse_postgres_url, redact_url, shown_target
from agentcli.core.errors import ConfigError, StoreError
from agentcli.runtime import open_store

SECRET = "pa:ss@w/rd#1"
QUOTED = "pa%3Ass%40w%2Frd%231"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://ai:ai@localhost:5532/ai",
        "postgres://ai:ai@localhost:5532/ai",
        "postgresql+psycopg://ai:ai@localhost:5532/ai",
        "POSTGRESQL://ai:ai@localhost:5532/ai",
    ],
)
def test_the_three_url_forms_mean_the_same_server(url):
    target = parse_postgres_url(url)
    assert is_postgres_url(url)
    assert target.conninfo == "postgresql://ai:ai@localhost:5532/ai"
    assert (target.host, target.port, target.dbname, target.user, target.password) == (
        "localhost",
        5532,
        "ai",
        "ai",
        "ai",
    )


@pytest.mark.parametrize(
    "target", ["chat.db", "/tmp/x.db", "./postgresql.db", "postgresql", "mysql://h/db"]
)
def test_paths_and_other_schemes_are_not_postgres(target):
    assert not is_postgres_url(target)


def test_a_socket_url_names_its_directory():
    target = parse_postgres_url("postgresql:///ai?host=/run/postgresql&port=5433")
    assert (target.host, target.port, target.dbname) == ("/run/postgresql", 5433, "ai")
    assert target.where == "socket /run/postgresql port 5433"


def test_defaults_host_and_port():
    target = parse_postgres_url("postgres:///ai")
    assert (target.host, target.port, target.where) == ("localhost", 5432, "localhost:5432")


def test_a_quoted_password_is_unquoted_for_the_driver_and_hidden_when_shown():
    target = parse_postgres_url(f"postgresql+psycopg://ai:{QUOTED}@db.example:5432/team")
    assert target.password == SECRET
    assert target.shown == "postgresql+psycopg://ai:***@db.example:5432/team"
    assert QUOTED not in target.shown


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://ai:secret@h:1/d", "postgresql://ai:***@h:1/d"),
        ("postgresql://ai@h/d", "postgresql://ai@h/d"),
        ("postgresql://h/d?user=ai&password=secret", "postgresql://h/d?user=ai&password=***"),
        ("postgresql://ai:secret@h:notaport/d", "postgresql://ai:***@h:notaport/d"),
        ("chat.db", "chat.db"),
    ],
)
def test_redaction(url, shown):
    assert redact_url(url) == shown == shown_target(url)


def test_a_malformed_url_is_an_error_without_the_password():
    with pytest.raises(ValueError) as caught:
        parse_postgres_url("postgresql://ai:secret@h:notaport/d")
    assert "secret" not in str(caught.value) and "***" in str(caught.value)


def test_a_url_never_becomes_a_sqlite_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="unsupported database URL mysql://ai:\\*\\*\\*@h/d"):
        open_store("mysql://ai:secret@h/d")
    from agentcli import SqliteDb

    with pytest.raises(StoreError, match="is a URL"):
        SqliteDb("postgresql://ai:secret@127.0.0.1:9/ai")
    assert os.listdir(tmp_path) == []


def test_postgres_db_is_exported_lazily():
    import agentcli

    assert "PostgresDb" in agentcli.__all__
    assert agentcli.PostgresDb.__name__ == "PostgresDb"


def test_config_show_prints_the_url_without_its_password(cli, agentcli_home, monkeypatch):
    agentcli_home.mkdir()
    (agentcli_home / "config.toml").write_text(
        f'db = "postgresql://ai:{QUOTED}@db.example:5432/team"\ndb_schema = "team_a"\n'
    )
    out = cli("config", "show")
    assert out.exit_code == 0, out.output
    assert "database:    postgresql://ai:***@db.example:5432/team\n" in out.stdout
    assert "db schema:   team_a\n" in out.stdout
    assert QUOTED not in out.stdout and SECRET not in out.stdout
    shown = json.loads(cli("config", "show", "--json").stdout)
    assert shown["database"] == "postgresql://ai:***@db.example:5432/team"
    assert shown["settings"]["db"] == {
        "value": "postgresql://ai:***@db.example:5432/team",
        "source": "file",
    }
    assert QUOTED not in json.dumps(shown)


def test_the_flag_beats_the_environment_beats_the_file(cli, agentcli_home, monkeypatch):
    agentcli_home.mkdir()
    (agentcli_home / "config.toml").write_text('db = "postgresql://file@h/d"\n')
    shown = lambda *args: json.loads(cli(*args, "config", "show", "--json").stdout)["database"]  # noqa: E731
    assert shown() == "postgresql://file@h/d"
    monkeypatch.setenv("AGENTCLI_DB", "postgres://env:pw@h/d")
    assert shown() == "postgres://env:***@h/d"
    assert shown("--db", str(agentcli_home / "x.db")) == str(agentcli_home / "x.db")
