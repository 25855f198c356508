"""Values that cannot work are refused at once, naming where they came from."""

import time

import pytest

from agentcli import OpenAIChat
from agentcli.core.errors import ConfigError


def write_config(home, text):
    home.mkdir(exist_ok=True)
    path = home / "config.toml"
    path.write_text(text)
    return path


def test_an_empty_model_in_the_file_is_refused(cli, agentcli_home, server):
    path = write_config(agentcli_home, 'model = ""\n')
    out = cli("chat", "hi")
    assert (out.exit_code, out.stderr) == (
        2,
        f"agentcli: error: model must not be empty (from {path})\n",
    )
    assert server.requests == []


def test_an_empty_model_flag_is_refused(cli, server):
    out = cli("chat", "--model", "", "hi")
    assert (out.exit_code, out.stderr) == (
        2,
        "agentcli: error: model must not be empty (from --model)\n",
    )
    assert server.requests == []


@pytest.mark.parametrize("args", [("chat", "hi"), ("config", "show"), ("sessions", "list")])
def test_an_empty_default_user_is_refused_by_every_command(cli, agentcli_home, monkeypatch, args):
    monkeypatch.delenv("AGENTCLI_USER")
    path = write_config(agentcli_home, 'default_user = ""\n')
    out = cli(*args)
    assert (out.exit_code, out.stdout, out.stderr) == (
        2,
        "",
        f"agentcli: error: default user must not be empty (from {path})\n",
    )


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("not a url", "it needs http:// or https:// and a host"),
        ("localhost:8080/v1", "it needs http:// or https:// and a host"),
        ("ftp://example.org/v1", "it needs http:// or https:// and a host"),
        ("http:///v1", "it names no host"),
        ("http://h:99999/v1", "it cannot be read as a URL (Port out of range 0-65535)"),
        ("http://my host/v1", "it holds spaces or control characters"),
    ],
)
def test_a_base_url_that_is_no_endpoint_is_a_configuration_error_at_once(
    cli, agentcli_home, url, problem
):
    path = write_config(agentcli_home, f'base_url = "{url}"\n')
    started = time.monotonic()
    out = cli("chat", "hi")
    assert (out.exit_code, out.stderr) == (
        2,
        f"agentcli: error: base url {url!r} is not an endpoint: {problem} (from {path})\n",
    )
    assert time.monotonic() - started < 1  # no retries
    out = cli("chat", "hi", env={"OPENAI_BASE_URL": url})
    assert out.stderr.endswith("(from env OPENAI_BASE_URL)\n")


def test_a_base_url_never_shows_its_password(cli):
    out = cli("chat", "hi", env={"OPENAI_BASE_URL": "ftp://me:hunter22@example.org/v1"})
    assert out.exit_code == 2
    assert "hunter22" not in out.stderr and "me:***@example.org" in out.stderr


def test_the_library_refuses_a_base_url_that_is_no_endpoint_without_a_request():
    import openai  # noqa: F401 - loaded first: only the call is timed

    model = OpenAIChat("m", base_url="not a url", retry_delay=1)
    started = time.monotonic()
    with pytest.raises(ConfigError, match="^base url 'not a url' is not an endpoint: it needs"):
        model.complete([{"role": "user", "content": "hi"}])
    assert time.monotonic() - started < 0.5


@pytest.mark.parametrize(
    "text",
    [
        "history_runs = -3\n",
        'memory = "sometimes"\n',
        'markdown = "maybe"\n',
        "model = 5\n",
        'model = ""\n',
        "timeout = 0\n",
        'base_url = "nowhere"\n',
        'db = "mysql://h/d"\n',
        "nonsense = 1\n",
        "history_runs = \n",
    ],
)
def test_every_config_error_names_the_file(cli, agentcli_home, text):
    path = write_config(agentcli_home, text)
    endpoint = {} if "base_url" in text else {"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}
    out = cli("chat", "hi", env=endpoint)
    assert out.exit_code == 2
    assert str(path) in out.stderr and "(from file)" not in out.stderr
    assert out.stderr.count("\n") == 1
