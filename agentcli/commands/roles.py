"""``agentcli roles``: list, show and edit roles (config.toml tables and roles/*.md files)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..core.errors import UsageError
from . import Subcommands
from .common import JsonOption, state

if TYPE_CHECKING:
    from ..profiles import Role

group = Subcommands()

RoleArg = Annotated[str, typer.Argument(help="The role's name.", show_default=False)]

# What `roles edit` writes into a new role file.
TEMPLATE = """---
# Optional settings of this role (delete what you do not need):
# model: gpt-4o-mini
# temperature: 0.2
# top_p: 0.9
# max_tokens: 1024
# memory: agentic
# options: {{"presence_penalty": 0.5}}
---
You are {name}. Describe here how the assistant should answer.
"""


def role_json(role: Role) -> dict[str, Any]:
    return {"name": role.name, "system": role.system, **role.values, "file": str(role.origin)}


@group.command("list")
def list_(ctx: typer.Context, json_: JsonOption = False) -> None:
    """List the roles: [roles.NAME] in config.toml and roles/NAME.md files."""
    from ..config import load_roles
    from ..views import one_line

    st = state(ctx)
    roles = load_roles()
    if json_:
        st.env.print_json([role_json(r) for r in roles.values()])
    elif not roles:
        st.env.info("no roles: add [roles.NAME] to config.toml or run agentcli roles edit NAME")
    else:
        st.env.table(
            ["ROLE", "MODEL", "INSTRUCTIONS", "FILE"],
            [
                [r.name, r.values.get("model") or "", one_line(r.system, 60), r.origin.name]
                for r in roles.values()
            ],
        )


@group.command()
def show(ctx: typer.Context, name: RoleArg, json_: JsonOption = False) -> None:
    """Show a role: its settings and its instructions."""
    from ..config import load_roles
    from ..profiles import find_role

    st = state(ctx)
    role = find_role(load_roles(), name)
    if json_:
        st.env.print_json(role_json(role))
        return
    st.env.line(f"role {role.name} · {role.origin}", "bold")
    for key, value in role.values.items():
        st.env.line(f"{key}: {value if isinstance(value, str) else json.dumps(value)}")
    st.env.line()
    st.env.line(role.system or "(no instructions)")


@group.command()
def edit(ctx: typer.Context, name: RoleArg) -> None:
    """Open a role's file in $EDITOR; a new role gets roles/NAME.md.

    A role of config.toml opens config.toml."""
    import os
    import shlex
    import subprocess

    from ..config import config_dir, ensure_private_dir, load_roles
    from ..profiles import check_role_name, role_path

    st = state(ctx)
    check_role_name(name)
    existing = load_roles().get(name)
    path = existing.origin if existing is not None else role_path(config_dir(), name)
    if existing is None:
        ensure_private_dir(path.parent)
        with open(path, "x", encoding="utf-8") as fh:
            fh.write(TEMPLATE.format(name=name))
        st.env.info(f"created {path}")
    editor = os.environ.get("EDITOR") or os.environ.get("VISUAL") or "vi"
    try:
        status = subprocess.call([*shlex.split(editor), str(path)])
    except OSError as exc:
        raise UsageError(f"cannot run the editor {editor!r}: {exc.strerror}") from None
    if status != 0:
        raise UsageError(f"the editor {editor!r} exited with status {status}")
    load_roles()  # say now if the edited role no longer reads
