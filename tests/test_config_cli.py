import json

import pytest

from agentcli.config import load_settings

KEY = "sk-test-secret-4242"


@pytest.fixture
def configured(agentcli_home, monkeypatch):
    agentcli_home.mkdir()
    (agentcli_home / "config.toml").write_text(
        'model = "file-model"\nhistory_runs = 3\nmemory = "automatic"\nmarkdown = false\n'
    )
    monkeypatch.setenv("AGENTCLI_MEMORY", "off")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    return agentcli_home


def test_config_path(cli, agentcli_home):
    out = cli("config", "path")
    assert (out.exit_code, out.stdout) == (0, f"{agentcli_home / 'config.toml'}\n")


def test_flags_beat_env_beat_file_beat_defaults(configured, monkeypatch):
    monkeypatch.setenv("AGENTCLI_MODEL", "env-model")
    settings = load_settings(memory="agentic")
    assert (settings.memory, settings.model, settings.history_runs, settings.timeout) == (
        "agentic",
        "env-model",
        3,
        60.0,
    )
    assert (settings.sources["memory"], settings.sources["model"]) == (
        "flag",
        "env AGENTCLI_MODEL",
    )


def test_show_names_every_value_and_its_source_but_never_the_key(cli, configured):
    out = cli("config", "show")
    assert out.stdout == (
        f"config file: {configured / 'config.toml'}\n"
        f"database:    {configured / 'agentcli.db'}\n"
        "\n"
        "SETTING             VALUE       SOURCE\n"
        "model               file-model  file\n"
        "base_url            (not set)   default\n"
        "api_key             (set)       env OPENAI_API_KEY\n"
        "user                tester      env AGENTCLI_USER\n"
        "history_runs        3           file\n"
        "memory              off         env AGENTCLI_MEMORY\n"
        "memory_model        (not set)   default\n"
        "memory_budget       1500        default\n"
        "summaries           true        default\n"
        "summary_batch       5           default\n"
        "timeout             60.0        default\n"
        "stall_timeout       30.0        default\n"
        "context_window      (not set)   default\n"
        "max_tokens          2048        default\n"
        "memory_max_tokens   512         default\n"
        "summary_max_tokens  768         default\n"
        "markdown            false       file\n"
        "file_limit          5000000     default\n"
        "vision              (not set)   default\n"
        "vision_models       (none)      default\n"
        "aliases             (none)      default\n"
        "system              (not set)   default\n"
        "temperature         (not set)   default\n"
        "top_p               (not set)   default\n"
        "seed                (not set)   default\n"
        "options             (none)      default\n"
        "role                (not set)   default\n"
        "endpoint            (not set)   default\n"
        "server_token        (not set)   default\n"
        "db                  (not set)   default\n"
        "db_schema           agentcli    default\n"
    )


def test_show_json(cli, configured):
    data = json.loads(cli("config", "show", "--json").stdout)
    assert {k: v for k, v in data.items() if k != "settings"} == {
        "config_file": str(configured / "config.toml"),
        "config_file_exists": True,
        "data_dir": str(configured),
        "database": str(configured / "agentcli.db"),
    }
    assert data["settings"]["api_key"] == {"value": "(set)", "source": "env OPENAI_API_KEY"}
    assert data["settings"]["history_runs"] == {"value": 3, "source": "file"}
    assert KEY not in json.dumps(data)


def test_show_without_a_user_setting_names_the_login(cli, monkeypatch):
    monkeypatch.delenv("AGENTCLI_USER")
    user = json.loads(cli("config", "show", "--json").stdout)["settings"]["user"]
    assert user["source"] == "login name" and user["value"]


def test_a_broken_file_is_one_line_but_path_still_works(cli, agentcli_home):
    agentcli_home.mkdir()
    (agentcli_home / "config.toml").write_text("colour = 'blue'\n")
    out = cli("config", "show")
    assert (out.exit_code, out.stderr) == (
        2,
        f"agentcli: error: config file {agentcli_home / 'config.toml'}: unknown setting 'colour'\n",
    )
    assert cli("config", "path").exit_code == 0


def test_db_option_shows_in_config_show(cli, tmp_path):
    data = json.loads(cli("--db", str(tmp_path / "x.db"), "config", "show", "--json").stdout)
    assert data["database"] == str(tmp_path / "x.db")


def test_markdown_default_comes_from_the_file(agentcli_home):
    agentcli_home.mkdir()
    (agentcli_home / "config.toml").write_text("markdown = false\n")
    assert load_settings().markdown is False
    assert load_settings(markdown=True).sources["markdown"] == "flag"


def test_the_server_token_is_shown_as_set_never_as_its_value(cli, monkeypatch):
    monkeypatch.setenv("AGENTCLI_SERVER_TOKEN", "tok-secret-777")
    out = cli("config", "show", "--json").stdout
    assert json.loads(out)["settings"]["server_token"] == {
        "value": "(set)",
        "source": "env AGENTCLI_SERVER_TOKEN",
    }
    assert "tok-secret-777" not in out + cli("config", "show").stdout
