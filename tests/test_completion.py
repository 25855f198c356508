"""Shell completion through the installed script, as a shell asks for it."""

import pytest

from agentcli import SqliteDb


def bash(run_cli, line: str, **env: str) -> list[str]:
    """What bash would offer for ``line`` (completing its last, maybe empty, word)."""
    words = line.split(" ")
    out = run_cli(
        env={
            "_AGENTCLI_COMPLETE": "complete_bash",
            "COMP_WORDS": line,
            "COMP_CWORD": str(len(words) - 1),
            **env,
        },
    )
    assert (out.returncode, out.stderr.decode()) == (0, "")
    return out.stdout.decode().split()


def zsh(run_cli, line: str) -> str:
    out = run_cli(env={"_AGENTCLI_COMPLETE": "complete_zsh", "_TYPER_COMPLETE_ARGS": line})
    assert (out.returncode, out.stderr.decode()) == (0, "")
    return out.stdout.decode()


@pytest.fixture
def sessions(agentcli_home):
    with SqliteDb(agentcli_home / "agentcli.db") as db:
        for user, session in [("tester", "trip"), ("tester", "tea"), ("bob", "toast")]:
            _, run = db.begin_run(user, session, f"{session} plans", "m", "host:1:x")
            db.finish_run(run.pk, status="completed", messages=[])
        db.ensure_session("tester", "oslo")


@pytest.mark.parametrize(
    "line",
    [
        "agentcli sessions show t",
        "agentcli sessions show -s t",
        "agentcli sessions export t",
        "agentcli sessions delete --session t",
        "agentcli sessions rename t",
        "agentcli summarize t",
        "agentcli summarize -s t",
        "agentcli chat -s t",
        "agentcli chat --session t",
    ],
)
def test_session_ids_of_the_default_user_are_offered(run_cli, sessions, line):
    assert sorted(bash(run_cli, line)) == ["tea", "trip"]


def test_the_user_typed_before_is_the_one_whose_sessions_are_offered(run_cli, sessions):
    assert bash(run_cli, "agentcli sessions show -u bob ") == ["toast"]
    assert bash(run_cli, "agentcli chat --user bob -s ") == ["toast"]
    assert bash(run_cli, "agentcli sessions show --user nobody ") == []


def test_the_most_recent_come_first_and_names_are_their_help(run_cli, sessions):
    assert bash(run_cli, "agentcli summarize ") == ["oslo", "tea", "trip"]
    assert '"tea":"tea plans"' in zsh(run_cli, "agentcli sessions show te")


def test_the_database_named_by_db_is_read(run_cli, sessions, agentcli_home, tmp_path):
    moved = tmp_path / "moved.db"
    (agentcli_home / "agentcli.db").rename(moved)
    assert bash(run_cli, "agentcli sessions show t") == []
    assert sorted(bash(run_cli, f"agentcli --db {moved} sessions show t")) == ["tea", "trip"]


def test_memory_modes_are_offered(run_cli):
    assert bash(run_cli, "agentcli chat --memory ") == ["agentic", "automatic", "off"]
    assert zsh(run_cli, "agentcli chat --memory a") == (
        '_arguments \'*: :(("agentic"\n"automatic"))\'\n'
    )


def test_without_a_database_nothing_is_offered_and_nothing_created(run_cli, agentcli_home):
    assert bash(run_cli, "agentcli sessions show ") == []
    assert bash(run_cli, "agentcli --db x/new.db sessions show ") == []
    assert not agentcli_home.exists()


@pytest.mark.parametrize("broken", ["database", "config", "url"])
def test_a_broken_store_or_config_offers_nothing_without_a_traceback(
    run_cli, sessions, agentcli_home, broken
):
    if broken == "database":
        (agentcli_home / "agentcli.db").write_bytes(b"not a database" * 100)
        for name in ("agentcli.db-wal", "agentcli.db-shm"):
            (agentcli_home / name).unlink(missing_ok=True)
    elif broken == "config":
        (agentcli_home / "config.toml").write_text("default_user = [")
    env = {"AGENTCLI_DB": "postgresql://u@127.0.0.1:1/x"} if broken == "url" else {}
    assert bash(run_cli, "agentcli sessions show ", **env) == []
