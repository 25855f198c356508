"""Roles, named endpoints and generation options: what ``config.toml`` and the
``roles/`` folder add to the settings.

Pure functions of the data they are given (the config file's tables, a folder,
the environment): :mod:`agentcli.config` reads the files and layers the result
into the settings. No package beyond the standard library is imported here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from .core.errors import ConfigError, UsageError
from .core.ranges import SETTINGS, shown

# Generation options with a name have a range of their own (core/ranges.py);
# any other body field is passed through as given (``-o KEY=VALUE``, ``[options]``).
# Body fields agentcli sets itself: an option may not replace them.
RESERVED_FIELDS = {
    "model": "--model",
    "messages": None,
    "stream": None,
    "stream_options": None,
    "tools": None,
    "tool_choice": None,
    "max_tokens": "--max-tokens",
    "max_completion_tokens": "--max-tokens",
}

# What a role may set, besides its instructions (``system``).
ROLE_KEYS = ("system", "model", "temperature", "top_p", "seed", "max_tokens", "memory", "options")
ROLE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
ROLES_DIR = "roles"

ENDPOINT_KEYS = ("base_url", "api_key", "api_key_env", "model")


# -- generation options ------------------------------------------------------------
def check_option(key: str, value: Any, source: str) -> Any:
    """One generation option, checked; a usage error naming ``source`` when it is not valid."""
    if not key or not key.strip() or key != key.strip():
        raise ConfigError(f"an option needs a name, got {key!r} (from {source})")
    if key in RESERVED_FIELDS:
        instead = RESERVED_FIELDS[key]
        hint = f"; use {instead}" if instead else ""
        raise ConfigError(f"{key} cannot be set as an option (from {source}){hint}")
    if key in ("temperature", "top_p", "seed"):
        allowed = SETTINGS[key]
        if key == "seed" and isinstance(value, float) and value.is_integer():
            value = int(value)
        if not allowed.holds(value):
            raise ConfigError(
                f"{key} must be {allowed.describe()}, got {shown(value)} (from {source})"
            )
        return value if key == "seed" else float(value)
    return value


def check_options(options: Any, source: str) -> dict[str, Any]:
    """A table of generation options (``[options]``, a role's ``options``), checked."""
    if not isinstance(options, Mapping):
        raise ConfigError(f"options must be a table of KEY = VALUE (from {source})")
    return {str(k): check_option(str(k), v, source) for k, v in options.items()}


def parse_option_pairs(pairs: list[str], source: str = "-o") -> dict[str, Any]:
    """``-o KEY=VALUE`` arguments: a value that parses as JSON is that value
    (``-o stop='["\\n"]'``, ``-o logprobs=true``), any other is a string."""
    found: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{source} takes KEY=VALUE, got {pair!r}")
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        found[key.strip()] = check_option(key.strip(), value, f"{source} {key.strip()}")
    return found


# -- roles ---------------------------------------------------------------------------
class Role(NamedTuple):
    """A named set of instructions and settings.

    ``values`` holds what the role sets besides ``system``; ``origin`` is the file
    it comes from (a Markdown file in ``roles/`` or ``config.toml``)."""

    name: str
    system: str | None
    values: dict[str, Any]
    origin: Path

    def settings(self) -> dict[str, Any]:
        """What the role layers into the settings (its instructions as ``system``)."""
        out = dict(self.values)
        if self.system:
            out["system"] = self.system
        return out


def parse_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """A Markdown file's ``---`` front matter (``key: value`` lines) and its body.

    A value that parses as JSON is that value (``0.2``, ``true``, ``"text"``,
    ``{"stop": ["END"]}``), any other is the text after the colon, stripped.
    Blank lines and lines starting with ``#`` are skipped.
    """
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        return {}, text
    for end in range(1, len(lines)):
        if lines[end].strip() == "---":
            break
    else:
        raise ValueError("the front matter has no closing --- line")
    found: dict[str, Any] = {}
    for number, line in enumerate(lines[1:end], start=2):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        key, sep, raw = stripped.partition(":")
        if not sep or not key.strip():
            raise ValueError(f"line {number} is not 'key: value'")
        raw = raw.strip()
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        found[key.strip()] = value
    return found, "".join(lines[end + 1 :])


def role_path(config_dir: Path, name: str) -> Path:
    return config_dir / ROLES_DIR / f"{name}.md"


def check_role_name(name: str) -> str:
    if not ROLE_NAME.match(name):
        raise UsageError(
            f"invalid role name {name!r}: use letters, digits, '.', '_' and '-' (64 at most)"
        )
    return name


def _role(name: str, values: Mapping[str, Any], origin: Path, system: str | None) -> Role:
    where = f"role {name!r} in {origin}"
    unknown = sorted(set(values) - set(ROLE_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(ROLE_KEYS)})")
    rest = {k: v for k, v in values.items() if k != "system"}
    if "system" in values:
        if not isinstance(values["system"], str):
            raise ConfigError(f"{where}: system must be a string")
        system = values["system"]
    if "options" in rest:
        rest["options"] = check_options(rest["options"], where)
    for key in ("temperature", "top_p", "seed"):
        if key in rest:
            rest[key] = check_option(key, rest[key], where)
    if "model" in rest and (not isinstance(rest["model"], str) or not rest["model"].strip()):
        raise ConfigError(f"{where}: model must be a model name")
    if "memory" in rest and rest["memory"] not in ("agentic", "automatic", "off"):
        raise ConfigError(f"{where}: memory must be agentic, automatic or off")
    if "max_tokens" in rest and (
        not isinstance(rest["max_tokens"], int) or isinstance(rest["max_tokens"], bool)
    ):
        raise ConfigError(f"{where}: max_tokens must be a whole number")
    return Role(name, (system or "").strip() or None, rest, origin)


def load_role_file(path: Path) -> Role:
    """A role from ``roles/NAME.md``: the body is its instructions."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read role file {path}: {exc}") from None
    try:
        values, body = parse_front_matter(text)
    except ValueError as exc:
        raise ConfigError(f"role file {path}: {exc}") from None
    return _role(path.stem, values, path, body)


def load_roles(table: Any, config_dir: Path, config_file: Path) -> dict[str, Role]:
    """Every role, by name: ``[roles.NAME]`` tables of the config file, then the
    Markdown files of ``roles/`` (a file wins over a table of the same name)."""
    roles: dict[str, Role] = {}
    if table is not None:
        if not isinstance(table, Mapping):
            raise ConfigError(f"config file {config_file}: roles must be tables [roles.NAME]")
        for name, values in table.items():
            if not isinstance(values, Mapping):
                raise ConfigError(f"config file {config_file}: [roles.{name}] must be a table")
            roles[name] = _role(name, values, config_file, None)
    folder = config_dir / ROLES_DIR
    if folder.is_dir():
        for path in sorted(folder.glob("*.md")):
            if ROLE_NAME.match(path.stem):
                roles[path.stem] = load_role_file(path)
    return dict(sorted(roles.items()))


def find_role(roles: dict[str, Role], name: str) -> Role:
    """The role called ``name``; an unknown one is a usage error listing the known ones."""
    if name in roles:
        return roles[name]
    known = ", ".join(roles) if roles else "none are defined"
    raise UsageError(f"unknown role {name!r} (known roles: {known})")


# -- endpoints ------------------------------------------------------------------------
class Endpoint(NamedTuple):
    name: str
    base_url: str
    api_key: str | None
    model: str | None


def find_endpoint(table: Any, name: str, environ: Mapping[str, str], config_file: Path) -> Endpoint:
    """The endpoint ``[endpoints.NAME]`` of the config file, with its key read from
    ``api_key_env`` (or ``api_key``). Never puts a key into an error message."""
    endpoints = table if isinstance(table, Mapping) else {}
    if name not in endpoints:
        known = ", ".join(sorted(endpoints)) or f"none are defined in {config_file}"
        raise ConfigError(f"unknown endpoint {name!r} (known endpoints: {known})")
    values = endpoints[name]
    where = f"endpoint {name!r} in {config_file}"
    if not isinstance(values, Mapping):
        raise ConfigError(f"{where}: [endpoints.{name}] must be a table")
    unknown = sorted(set(values) - set(ENDPOINT_KEYS))
    if unknown:
        known = ", ".join(ENDPOINT_KEYS)
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (known: {known})")
    base_url = values.get("base_url")
    if not isinstance(base_url, str) or not base_url.strip():
        raise ConfigError(f"{where}: base_url is required")
    key = values.get("api_key")
    if key is not None and not isinstance(key, str):
        raise ConfigError(f"{where}: api_key must be a string")
    var = values.get("api_key_env")
    if var is not None:
        if not isinstance(var, str) or not var.strip():
            raise ConfigError(f"{where}: api_key_env must name an environment variable")
        key = environ.get(var) or None
        if key is None:
            raise ConfigError(
                f"endpoint {name!r} reads its API key from the environment variable {var}, "
                "which is not set"
            )
    model = values.get("model")
    if model is not None and (not isinstance(model, str) or not model.strip()):
        raise ConfigError(f"{where}: model must be a model name")
    return Endpoint(name, base_url.strip(), key or None, model)
