"""The table of commands: each loaded on use, listed by `--help` without loading it."""

import inspect

import pytest
import typer

from agentcli import commands
from agentcli.cli import app
from agentcli.commands import COMMANDS, build


@pytest.mark.parametrize("name", list(COMMANDS))
def test_listed_help_is_the_command_own_help(name):
    command = build(name)
    assert inspect.cleandoc(command.help).splitlines()[0] == COMMANDS[name][2]


def test_root_help_lists_every_command_in_order(cli):
    out = cli("--help").output
    listed = [
        line.split()[0] for line in out.split("Commands:")[1].splitlines() if line[:3].strip()
    ]
    assert listed == list(COMMANDS)


def test_the_root_names_every_command_and_loads_one_when_asked():
    root = typer.main.get_command(app)
    ctx = typer.Context(root)
    assert root.list_commands(ctx) == list(COMMANDS)
    chat = root.get_command(ctx, "chat")
    assert chat.name == "chat" and root.get_command(ctx, "chat") is chat
    assert root.get_command(ctx, "chatter") is None


def test_unknown_command_is_refused_with_a_suggestion(cli):
    result = cli("memorie")
    assert result.exit_code == 2
    assert "No such command 'memorie'. Did you mean 'memories'" in result.output


def test_unknown_subcommand_is_refused_with_a_suggestion(cli):
    result = cli("memories", "lis")
    assert result.exit_code == 2
    assert "No such command 'lis'. Did you mean 'list'?" in result.stderr


def test_a_group_converts_only_the_subcommand_used(monkeypatch):
    converted = []
    convert = commands.convert
    monkeypatch.setattr(
        commands, "convert", lambda f, name: converted.append(name) or convert(f, name)
    )
    group = build("memories")
    ctx = typer.Context(group)
    assert group.list_commands(ctx)[:3] == ["list", "search", "add"]
    assert converted == []
    assert group.get_command(ctx, "list").name == "list"
    assert converted == ["list"]
