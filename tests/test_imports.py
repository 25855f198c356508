"""What each command imports (not timed: the timings are in bench/)."""

import json
import subprocess
import sys

import pytest

HEAVY = ("openai", "prompt_toolkit", "rich.markdown", "mcp", "fastapi", "uvicorn", "starlette")

# Runs the CLI in a fresh interpreter, then reports the modules it loaded.
PROBE = """
import json, sys
args = json.loads(sys.argv[1])
sys.argv = ["agentcli", *args]
from agentcli.cli import main
main()
print("\\nMODULES " + json.dumps(sorted(sys.modules)))
"""


def probe(*args: str) -> tuple[str, set[str]]:
    """What the command printed (stdout is a pipe) and the modules it loaded."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args)], capture_output=True, text=True
    )
    printed, modules = out.stdout.rsplit("\nMODULES ", 1)
    return printed, set(json.loads(modules))


def loaded(*args: str) -> set[str]:
    return probe(*args)[1]


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.startswith(HEAVY))


@pytest.mark.parametrize(
    "args",
    [
        ("--help",),
        ("sessions", "list"),
        ("memories", "list", "--user", "sarah"),
        ("mcp", "--help"),
    ],
)
def test_command_imports_no_heavy_package(args):
    assert heavy(loaded(*args)) == []


def test_list_commands_print_rows_without_rich_when_piped():
    from agentcli.adapters.sqlite import SqliteDb
    from agentcli.config import db_path

    with SqliteDb(db_path()) as db:
        db.add_memory("sarah", "Sarah likes tea.", actor="user")
        db.begin_run("sarah", "thread-42", "hello", "m", "owner")
    for args, row in [
        (("memories", "list", "--user", "sarah"), "Sarah likes tea."),
        (("sessions", "list", "--user", "sarah"), "thread-42"),
    ]:
        printed, modules = probe(*args)
        assert row in printed
        assert sorted(m for m in modules if m.startswith("rich")) == []


def test_help_imports_no_command_module_and_no_rich():
    modules = loaded("--help")
    assert sorted(m for m in modules if m.startswith(("agentcli.commands.", "rich"))) == []


def test_help_opens_no_database_code():
    modules = loaded("--help")
    assert sorted(modules & {"sqlite3", "agentcli.adapters.sqlite", "agentcli.config"}) == []


def test_a_command_imports_no_other_command_module():
    from agentcli.commands import COMMANDS

    modules = loaded("memories", "--help")
    others = [f"agentcli.commands.{COMMANDS[name][0]}" for name in COMMANDS if name != "memories"]
    assert "agentcli.commands.memories" in modules
    assert sorted(modules & set(others)) == []


def test_importing_the_package_loads_no_submodule():
    out = subprocess.run(
        [sys.executable, "-c", "import json, sys, agentcli; print(json.dumps(list(sys.modules)))"],
        capture_output=True,
        text=True,
    )
    assert [m for m in json.loads(out.stdout) if m.startswith("agentcli.")] == []


def test_exported_names_load_on_first_use():
    import agentcli

    assert agentcli.SqliteDb.__name__ == "SqliteDb"
    assert set(agentcli.__all__) <= set(dir(agentcli))
