import re
from pathlib import Path

import typer

from agentcli import slash
from agentcli.cli import app
from agentcli.commands import build

README = (Path(__file__).parent.parent / "README.md").read_text()


def walk(command, path=("agentcli",)):
    """Every command and subcommand, loaded through the groups' own hooks."""
    yield " ".join(path), command
    if hasattr(command, "list_commands"):
        ctx = typer.Context(command, info_name=path[-1])
        for name in command.list_commands(ctx):
            yield from walk(command.get_command(ctx, name), (*path, name))


def test_every_command_and_subcommand_has_help():
    commands = list(walk(typer.main.get_command(app)))
    assert len(commands) > 10
    assert [path for path, c in commands if not (c.help or "").strip()] == []


def test_every_option_and_argument_has_help():
    missing = [
        f"{path} {param.name}"
        for path, command in walk(typer.main.get_command(app))
        for param in command.params
        if not (getattr(param, "help", None) or "").strip()
    ]
    assert missing == []


def test_help_runs_for_every_command(cli):
    for path, _ in walk(typer.main.get_command(app)):
        out = cli(*path.split()[1:], "--help")
        assert (path, out.exit_code) == (path, 0)
        assert "Usage: agentcli" in out.stdout


def test_readme_documents_every_slash_command_and_sessions_subcommand():
    group = build("sessions")
    sessions = group.list_commands(typer.Context(group))
    documented = set(re.findall(r"`(/[a-z]+)", README)) | set(
        re.findall(r"agentcli sessions ([a-z]+)", README)
    )
    expected = {f"/{name}" for name in slash.REGISTRY} | set(sessions)
    assert expected - documented == set()


def test_no_command_list_cuts_a_help_line_in_80_columns(cli):
    groups = [path for path, c in walk(typer.main.get_command(app)) if hasattr(c, "list_commands")]
    cut = {
        path: line
        for path in groups
        for line in cli(*path.split()[1:], "--help", env={"COLUMNS": "80"}).stdout.splitlines()
        if line.endswith("...") and not line.startswith("Usage:")
    }
    assert cut == {}
