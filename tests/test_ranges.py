"""Every number agentcli takes has a range: out of it is a usage error naming the source."""

from dataclasses import fields

import pytest

from agentcli.config import ENV_VARS, Settings, load_settings
from agentcli.core.ranges import SETTINGS, shown

BIG = 10**20
INT64 = 2**63 - 1
# Commands taking a setting as a flag.
FLAGS = {
    "history_runs": [("chat", "hi"), ("serve",)],
    "max_tokens": [("chat", "hi")],
    "context_window": [("chat", "hi")],
    "memory_budget": [("mcp",)],
    "temperature": [("chat", "hi")],
    "top_p": [("chat", "hi")],
    "seed": [("chat", "hi")],
}


def bad_values(name):
    allowed = SETTINGS[name]
    below = allowed.low if allowed.above else allowed.low - 1
    if allowed.integer:
        return [below, allowed.high + 1, INT64, BIG]
    return [below, allowed.high * 2, float("inf"), float("nan"), 1e308]


def cases():
    for name in SETTINGS:
        for value in bad_values(name):
            yield pytest.param(name, "env", value, id=f"{name}-env-{value}")
            yield pytest.param(name, "file", value, id=f"{name}-file-{value}")
            for command in FLAGS.get(name, []):
                yield pytest.param(name, command, value, id=f"{name}-{command[0]}-{value}")


def toml(value):
    if isinstance(value, float) and value != value:
        return "nan"
    if value == float("inf"):
        return "inf"
    return repr(value)


def test_every_numeric_setting_has_a_range():
    numeric = [
        f.name
        for f in fields(Settings)
        if any(kind in str(f.type) for kind in ("int", "float")) and f.name != "sources"
    ]
    assert sorted(numeric) == sorted(SETTINGS)


@pytest.mark.parametrize(("name", "source", "value"), list(cases()))
def test_a_setting_out_of_range_is_a_usage_error_naming_its_source(
    cli, agentcli_home, name, source, value
):
    config = agentcli_home / "config.toml"
    env = {}
    if source == "env":
        env[ENV_VARS[name]] = str(value)
        args, origin = ["chat", "hi"], f"env {ENV_VARS[name]}"
    elif source == "file":
        agentcli_home.mkdir()
        config.write_text(f"{name} = {toml(value)}\n")
        args, origin = ["chat", "hi"], str(config)
    else:
        flag = "--" + name.replace("_", "-")
        args, origin = [*source, flag, str(value)], flag
    out = cli(*args, env=env)
    allowed = SETTINGS[name]
    label = name.replace("_", " ")
    assert (out.exit_code, out.stdout, out.stderr) == (
        2,
        "",
        f"agentcli: error: {label} must be {allowed.describe()}, got {shown(value)} "
        f"(from {origin})\n",
    )
    assert not (agentcli_home / "agentcli.db").exists()  # nothing opened, no run stored


@pytest.mark.parametrize("name", SETTINGS)
def test_both_ends_of_a_range_are_accepted(monkeypatch, name):
    allowed = SETTINGS[name]
    low = allowed.low + (0.001 if allowed.above else 0)
    for value in (low, allowed.high):
        monkeypatch.setenv(ENV_VARS[name], str(value))
        assert getattr(load_settings(), name) == value


@pytest.mark.parametrize(
    ("source", "text", "expected"),
    [
        ("env", "5.5", "history runs must be a whole number, got '5.5'"),
        ("env", "9" * 5000, "history runs must be a whole number, got '99999999999999999999"),
        ("file", "2.5", "history runs must be a whole number, got 2.5"),
        ("file", "true", "history runs must be a whole number, got True"),
    ],
)
def test_a_setting_that_is_no_number_says_so(cli, agentcli_home, source, text, expected):
    env = {}
    if source == "env":
        env["AGENTCLI_HISTORY_RUNS"] = text
    else:
        agentcli_home.mkdir()
        (agentcli_home / "config.toml").write_text(f"history_runs = {text}\n")
    out = cli("chat", "hi", env=env)
    assert out.exit_code == 2
    assert out.stderr.startswith(f"agentcli: error: {expected}")
    assert len(out.stderr) < 200


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["sessions", "list", "-n", str(BIG)], "--limit must be 0 to 1,000,000"),
        (["sessions", "search", "x", "-n", "-1"], "--limit must be 0 to 1,000,000"),
        (["sessions", "show", "s", "--last", str(INT64)], "--last must be 1 to 1,000,000"),
        (["memories", "search", "x", "--limit", str(BIG)], "--limit must be 0 to 1,000,000"),
        (["serve", "--port", "70000"], "--port must be 0 to 65,535"),
        (["serve", "--threads", str(BIG)], "--threads must be 1 to 1,024"),
        (["serve", "--shutdown-timeout", "nan"], "--shutdown-timeout must be 0 to 3,600 seconds"),
        (["serve", "--shutdown-timeout", "inf"], "--shutdown-timeout must be 0 to 3,600 seconds"),
    ],
)
def test_a_command_option_out_of_range_is_a_usage_error(cli, agentcli_home, args, expected):
    out = cli(*args)
    assert (out.exit_code, out.stdout) == (2, "")
    assert out.stderr.startswith(f"agentcli: error: {expected}, got ")
    assert not (agentcli_home / "agentcli.db").exists()
