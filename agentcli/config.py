"""Where agentcli keeps its files, and the settings it runs with.

Settings come from, in order of precedence: command-line flags, environment
variables, the TOML config file, built-in defaults.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .core.errors import ConfigError
from .core.ranges import SETTINGS as RANGES
from .core.ranges import shown

APP_NAME = "agentcli"
DB_FILENAME = "agentcli.db"
CONFIG_FILENAME = "config.toml"
MEMORY_MODES = ("agentic", "automatic", "off")
DEFAULT_DB_SCHEMA = "agentcli"
# Files attached to one message (`chat -f`, `/file`): their total size in bytes.
DEFAULT_FILE_LIMIT = 5_000_000


def _home() -> Path | None:
    home = os.environ.get("AGENTCLI_HOME")
    return Path(home).expanduser() if home else None


def data_dir() -> Path:
    """Directory for the database and REPL history (not created here)."""
    home = _home()
    if home is not None:
        return home
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME))


def check_data_dir() -> None:
    """Make an existing data directory private (0700) if it is agentcli's, else warn."""
    from .filemodes import tighten_data_dir

    tighten_data_dir(data_dir(), default=_home() is None)


def config_dir() -> Path:
    """Directory holding ``config.toml``: ``AGENTCLI_HOME`` when set, else the platform's."""
    home = _home()
    if home is not None:
        return home
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME))


def config_path() -> Path:
    return config_dir() / CONFIG_FILENAME


def history_path(user_id: str) -> Path:
    """The REPL's input history file of one user, in the data directory.

    The name is derived from the user id (readable part plus a hash), so any
    id -- quotes, slashes, 500 characters -- gives one safe file name.
    """
    import hashlib
    import re

    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", user_id)[:40].strip("._") or "user"
    digest = hashlib.sha256(user_id.encode("utf-8")).hexdigest()[:12]
    return data_dir() / "history" / f"{readable}-{digest}"


def db_path(override: str | os.PathLike[str] | None = None) -> Path:
    """The database file: ``--db``, else ``AGENTCLI_DB``, else the data directory's."""
    chosen = override or os.environ.get("AGENTCLI_DB")
    if chosen:
        return Path(chosen).expanduser()
    return data_dir() / DB_FILENAME


def db_target(override: str | os.PathLike[str] | None = None) -> str:
    """The database: ``--db``, else ``AGENTCLI_DB``, else ``db`` in the config file,
    else the data directory's file. A file path or a PostgreSQL URL."""
    chosen = override or os.environ.get("AGENTCLI_DB")
    if not chosen:
        chosen = _file_setting("db")
    if chosen:
        text = str(chosen)
        return text if "://" in text else str(Path(text).expanduser())
    return str(data_dir() / DB_FILENAME)


def db_origin(override: str | os.PathLike[str] | None = None) -> str:
    """Where :func:`db_target` found the database, as an error names it."""
    if override:
        return "--db"
    if os.environ.get("AGENTCLI_DB"):
        return "env AGENTCLI_DB"
    return str(config_path()) if _file_setting("db") else "default"


def db_schema() -> str:
    """The PostgreSQL schema: ``AGENTCLI_DB_SCHEMA``, else ``db_schema`` in the config file."""
    return os.environ.get("AGENTCLI_DB_SCHEMA") or _file_setting("db_schema") or DEFAULT_DB_SCHEMA


def _file_setting(name: str) -> str | None:
    value = read_config_file().get(name)
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"config file {config_path()}: {name} must be a string")
    return value or None


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) if missing; a directory we create is mode 0700."""
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(path, 0o700)
    return path


def login_name() -> str:
    import getpass  # with termios, a millisecond that commands given --user never need

    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "default"


@dataclass
class Settings:
    """Resolved settings. ``sources`` says where each value came from."""

    model: str = "gpt-4o-mini"
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    user: str | None = None
    history_runs: int = 5
    memory: str = "agentic"
    memory_model: str | None = None
    memory_budget: int = 1500
    summaries: bool = True
    summary_batch: int = 5
    timeout: float = 60.0
    stall_timeout: float = 30.0
    context_window: int | None = None
    max_tokens: int = 2048
    memory_max_tokens: int = 512
    summary_max_tokens: int = 768
    markdown: bool = True
    # Files: the largest total size attached to one message; whether the model
    # takes images (None: when it is named in vision_models).
    file_limit: int = DEFAULT_FILE_LIMIT
    vision: bool | None = None
    vision_models: tuple[str, ...] = ()
    # Other names for models: [aliases] fast = "llama3.2:1b".
    aliases: dict[str, str] = field(default_factory=dict)
    # Instructions for sessions given none (--system sets a session's own).
    system: str | None = None
    # Generation options: named ones, and any other body field (``options``).
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    options: dict[str, Any] = field(default_factory=dict)
    # A role of config.toml or roles/ (chat --role) and a named endpoint.
    role: str | None = None
    endpoint: str | None = None
    # Bearer token `agentcli serve` requires of every request but /health.
    server_token: str | None = field(default=None, repr=False)
    db: str | None = field(default=None, repr=False)
    db_schema: str = DEFAULT_DB_SCHEMA
    sources: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def default_user(self) -> str:
        return self.user or login_name()

    def generation_options(self) -> dict[str, Any]:
        """The body fields sent with a person's runs: ``options``, then the named ones."""
        named = {"temperature": self.temperature, "top_p": self.top_p, "seed": self.seed}
        return {**self.options, **{k: v for k, v in named.items() if v is not None}}

    def public_items(self) -> list[tuple[str, Any, str]]:
        """(name, shown value, source) for display; the API key is never shown."""
        rows = []
        for f in fields(self):
            if f.name == "sources":
                continue
            value = getattr(self, f.name)
            if f.name in SECRETS:
                value = "(set)" if value else "(not set)"
            elif f.name == "db" and value:
                from .core.dburl import shown_target

                value = shown_target(value)
            rows.append((f.name, value, self.sources.get(f.name, "default")))
        return rows


# Settings shown only as set or not set.
SECRETS = ("api_key", "server_token")

# Environment variables and the setting each one feeds.
ENV_VARS = {
    "model": "AGENTCLI_MODEL",
    "base_url": "OPENAI_BASE_URL",
    "api_key": "OPENAI_API_KEY",
    "user": "AGENTCLI_USER",
    "history_runs": "AGENTCLI_HISTORY_RUNS",
    "memory": "AGENTCLI_MEMORY",
    "memory_model": "AGENTCLI_MEMORY_MODEL",
    "memory_budget": "AGENTCLI_MEMORY_BUDGET",
    "summaries": "AGENTCLI_SUMMARIES",
    "summary_batch": "AGENTCLI_SUMMARY_BATCH",
    "timeout": "AGENTCLI_TIMEOUT",
    "stall_timeout": "AGENTCLI_STALL_TIMEOUT",
    "context_window": "AGENTCLI_CONTEXT_WINDOW",
    "max_tokens": "AGENTCLI_MAX_TOKENS",
    "memory_max_tokens": "AGENTCLI_MEMORY_MAX_TOKENS",
    "summary_max_tokens": "AGENTCLI_SUMMARY_MAX_TOKENS",
    "markdown": "AGENTCLI_MARKDOWN",
    "file_limit": "AGENTCLI_FILE_LIMIT",
    "vision": "AGENTCLI_VISION",
    "vision_models": "AGENTCLI_VISION_MODELS",
    "system": "AGENTCLI_SYSTEM",
    "temperature": "AGENTCLI_TEMPERATURE",
    "top_p": "AGENTCLI_TOP_P",
    "seed": "AGENTCLI_SEED",
    "endpoint": "AGENTCLI_ENDPOINT",
    "server_token": "AGENTCLI_SERVER_TOKEN",
    "db": "AGENTCLI_DB",
    "db_schema": "AGENTCLI_DB_SCHEMA",
}

# Keys accepted in config.toml; "default_user" is the documented spelling of "user".
FILE_KEYS = {name: name for name in ENV_VARS} | {"default_user": "user", "aliases": "aliases"}
# Tables of config.toml: [options] (generation options), [roles.NAME], [endpoints.NAME].
FILE_TABLES = ("options", "roles", "endpoints")


def _coerce(name: str, raw: Any, origin: str) -> Any:
    if name == "aliases":
        return _aliases(raw, origin)
    if name == "vision_models":
        return _names(raw, origin)
    kind = str(Settings.__dataclass_fields__[name].type)
    label = name.replace("_", " ")
    if "bool" in kind:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{label} must be true or false, got {shown(raw)} (from {origin})")
    if "int" in kind or "float" in kind:
        number = _number(raw, integer="int" in kind)
        if number is None:
            whole = "a whole number" if "int" in kind else "a number"
            raise ConfigError(f"{label} must be {whole}, got {shown(raw)} (from {origin})")
        return number
    if raw is not None and not isinstance(raw, str):
        raise ConfigError(f"{label} must be a string, got {shown(raw)} (from {origin})")
    return raw


def _number(raw: Any, *, integer: bool) -> int | float | None:
    """``raw`` (a TOML value or an environment variable's text) as a number, else ``None``.
    Ranges are checked later, whatever the source (see :func:`_validate`)."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        value: int | float = raw
    else:
        try:
            value = int(str(raw)) if integer else float(str(raw))
        except ValueError:  # also digits beyond Python's limit for int()
            return None
    if integer and isinstance(value, float):
        return int(value) if value.is_integer() else None
    return float(value) if not integer else value


def origin(settings: Settings, name: str) -> str:
    """Where a setting's value came from, as an error names it: the flag, the
    environment variable, the config file's path, or "default"."""
    source = settings.sources.get(name, "default")
    if source == "file":
        return str(config_path())
    if source == "flag":
        return "--" + name.replace("_", "-")
    return source


# String settings that cannot be empty when set (an empty environment variable
# counts as not set; an empty flag or config value is refused).
NOT_BLANK = ("model", "memory_model", "user", "base_url", "db_schema")


def _label(name: str) -> str:
    return "default user" if name == "user" else name.replace("_", " ")


def _validate(settings: Settings) -> None:
    for name in NOT_BLANK:
        value = getattr(settings, name)
        if value is not None and not value.strip():
            raise ConfigError(f"{_label(name)} must not be empty (from {origin(settings, name)})")
    if settings.base_url is not None:
        from .core.urls import endpoint_problem, shown_endpoint

        problem = endpoint_problem(settings.base_url)
        if problem:
            raise ConfigError(
                f"base url {shown_endpoint(settings.base_url)} is not an endpoint: {problem} "
                f"(from {origin(settings, 'base_url')})"
            )
    if settings.memory not in MEMORY_MODES:
        raise ConfigError(
            f"memory mode must be one of {', '.join(MEMORY_MODES)}, "
            f"got {settings.memory!r} (from {origin(settings, 'memory')})"
        )
    for name, allowed in RANGES.items():
        value = getattr(settings, name)
        if value is not None and not allowed.holds(value):
            raise ConfigError(
                f"{name.replace('_', ' ')} must be {allowed.describe()}, "
                f"got {shown(value)} (from {origin(settings, name)})"
            )


def read_config_file(path: Path | None = None) -> dict[str, Any]:
    path = path or config_path()
    if not path.exists():
        return {}
    import tomllib  # a few ms: only when there is a file to read

    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    unknown = sorted(set(data) - set(FILE_KEYS) - set(FILE_TABLES))
    if unknown:
        raise ConfigError(f"config file {path}: unknown setting {unknown[0]!r}")
    from .filemodes import warn_if_exposed

    endpoints = data.get("endpoints")
    in_endpoints = isinstance(endpoints, dict) and any(
        isinstance(e, dict) and "api_key" in e for e in endpoints.values()
    )
    warn_if_exposed(path, [*data, *(["api_key"] if in_endpoints else [])])
    return data


def load_settings(*, role: str | None = None, **flags: Any) -> Settings:
    """Resolve settings; ``flags`` are command-line values, ``None`` meaning not given.

    ``role`` names a role whose values come between the flags and the rest
    (flags > role > environment > config file > defaults). ``flags["options"]``
    (``-o``) adds to the generation options of the file and the role. A chosen
    endpoint supplies the base URL and key, and its model unless one is set by
    a flag, a role or ``AGENTCLI_MODEL``.
    """
    settings = Settings()
    path = config_path()
    data = read_config_file(path)
    for key, value in data.items():
        if key in FILE_TABLES:
            continue
        name = FILE_KEYS[key]
        setattr(settings, name, _coerce(name, value, str(path)))
        settings.sources[name] = "file"
    if "options" in data:
        from .profiles import check_options

        settings.options = check_options(data["options"], f"[options] in {path}")
        _lift_named(settings, "file")
    for name, var in ENV_VARS.items():
        value = os.environ.get(var)
        if value not in (None, ""):
            setattr(settings, name, _coerce(name, value, var))
            settings.sources[name] = f"env {var}"
    if role:
        from .profiles import find_role, load_roles

        found = find_role(load_roles(data.get("roles"), config_dir(), path), role)
        for name, value in found.settings().items():
            if name == "options":
                settings.options = {**settings.options, **value}
                _lift_named(settings, f"role {found.name}")
            else:
                setattr(settings, name, value)
            settings.sources[name] = f"role {found.name}"
        settings.role = found.name
        settings.sources["role"] = "flag"
    extra = flags.pop("options", None)
    if extra:
        settings.options = {**settings.options, **extra}
        _lift_named(settings, "flag")
    for name, value in flags.items():
        if value is not None:
            setattr(settings, name, value)
            settings.sources[name] = "flag"
    if settings.endpoint:
        _use_endpoint(settings, data.get("endpoints"), path)
    _validate(settings)
    # A model may be named by its alias wherever a name is given.
    settings.model = settings.aliases.get(settings.model, settings.model)
    if settings.memory_model:
        settings.memory_model = settings.aliases.get(settings.memory_model, settings.memory_model)
    return settings


def _aliases(raw: Any, origin: str) -> dict[str, str]:
    """``[aliases]`` as read from the config file: names to model names, both non-empty."""
    if not isinstance(raw, dict):
        raise ConfigError(f'{origin}: aliases must be a table, e.g. [aliases] fast = "model"')
    found: dict[str, str] = {}
    for alias, model in raw.items():
        if not isinstance(model, str) or not model.strip() or not str(alias).strip():
            raise ConfigError(f"{origin}: alias {alias!r} must name a model (a non-empty string)")
        found[str(alias)] = model
    return found


def _names(raw: Any, origin: str) -> tuple[str, ...]:
    """Model names or glob patterns: a TOML list, or a comma-separated string (env)."""
    items: list[Any] = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise ConfigError(f"{origin}: vision_models must be a list of model names")
    return tuple(i.strip() for i in items if i.strip())


def _lift_named(settings: Settings, source: str) -> None:
    """Options with a setting of their own (``-o temperature=0.2``) set that setting."""
    for name in ("temperature", "top_p", "seed"):
        if name in settings.options:
            setattr(settings, name, settings.options.pop(name))
            settings.sources[name] = source
    if settings.options:
        settings.sources["options"] = source


def _use_endpoint(settings: Settings, table: Any, path: Path) -> None:
    from .profiles import find_endpoint

    found = find_endpoint(table, settings.endpoint or "", os.environ, path)
    label = f"endpoint {found.name}"
    settings.base_url = found.base_url
    settings.api_key = found.api_key
    settings.sources["base_url"] = settings.sources["api_key"] = label
    if found.model and settings.sources.get("model", "default") in ("default", "file"):
        settings.model = found.model
        settings.sources["model"] = label


def load_roles() -> dict[str, Any]:
    """Every role of the config file and of the ``roles/`` folder, by name."""
    from .profiles import load_roles as roles_of

    path = config_path()
    return roles_of(read_config_file(path).get("roles"), config_dir(), path)
