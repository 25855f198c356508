"""The table of commands: each loaded on use, listed by `--help` without loading it."""

import inspect

import pytest

from agentcli.commands import COMMANDS, LazyCommands, build


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


def test_commands_are_built_on_first_access_only():
    commands = LazyCommands()
    assert list(commands) == list(COMMANDS) and commands._built == {}
    assert commands["chat"].name == "chat"
    assert list(commands._built) == ["chat"]


def test_unknown_command_is_refused_with_a_suggestion(cli):
    result = cli("memorie")
    assert result.exit_code == 2
    assert "No such command 'memorie'. Did you mean 'memories'" in result.output


def test_a_group_converts_only_the_subcommand_used():
    group = build("memories")
    assert list(group.commands)[:3] == ["list", "search", "add"]
    assert group.commands._built == {}
    assert group.commands["list"].name == "list"
    assert list(group.commands._built) == ["list"]
