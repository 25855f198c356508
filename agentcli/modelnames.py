"""Model names: aliases from the config file, the models that take images, and the
short-lived list of the endpoint's models that tab completion reads.

``[aliases]`` in ``config.toml`` names models (``fast = "llama3.2:1b"``); an
alias works wherever a model name does (``--model``, ``--memory-model``,
``model`` in the config file, ``/model`` in the REPL) and is resolved once,
here, to the name sent to the server.

Completion never asks the server: ``agentcli models`` (and ``chat``, when it
lists the models) writes the names to ``models.json`` in the data directory,
and completion reads that file while it is younger than :data:`CACHE_SECONDS`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import Settings

CACHE_FILE = "models.json"
# How long the endpoint's list of models is trusted for completion.
CACHE_SECONDS = 6 * 3600


def endpoint_of(settings: Settings) -> str:
    """The endpoint the settings name (as the model client reads it)."""
    return settings.base_url or "https://api.openai.com/v1"


def resolve(settings: Settings, name: str) -> str:
    """The model an alias stands for; any other name as it is."""
    return settings.aliases.get(name, name)


def accepts_images(settings: Settings, model: str) -> bool:
    """Whether ``model`` takes images: ``--vision``/``vision`` when set, else whether
    the model (or an alias of it) matches a name or pattern of ``vision_models``."""
    if settings.vision is not None:
        return settings.vision
    names = {model} | {a for a, m in settings.aliases.items() if m == model}
    return any(fnmatchcase(n, pattern) for n in names for pattern in settings.vision_models)


# -- the cache completion reads ----------------------------------------------------
def cache_path() -> Path:
    from .config import data_dir

    return data_dir() / CACHE_FILE


def write_cache(endpoint: str, names: Iterable[str]) -> None:
    """Keep the endpoint's model names for completion; a failure to write is ignored."""
    from .config import ensure_private_dir

    path = cache_path()
    try:
        data = _read(path)
        data[endpoint.rstrip("/")] = {"at": time.time(), "models": sorted(set(names))}
        ensure_private_dir(path.parent)
        temp = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        os.replace(temp, path)
    except OSError:
        pass


def cached_names(endpoint: str | None = None, *, max_age: float = CACHE_SECONDS) -> list[str]:
    """Model names kept for ``endpoint`` (any endpoint when ``None``) within ``max_age``."""
    now = time.time()
    names: set[str] = set()
    for key, entry in _read(cache_path()).items():
        if endpoint is not None and key != endpoint.rstrip("/"):
            continue
        if isinstance(entry, dict) and now - float(entry.get("at") or 0) <= max_age:
            names.update(n for n in entry.get("models") or () if isinstance(n, str))
    return sorted(names)


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def complete_model(incomplete: str) -> list[str]:
    """Shell completion of ``--model``: aliases and cached names; never a network call."""
    try:
        from .config import load_settings

        settings = load_settings()
        aliases = list(settings.aliases)
        endpoint: str | None = endpoint_of(settings)
    except Exception:  # completion must never fail loudly
        aliases, endpoint = [], None
    names = dict.fromkeys([*aliases, *cached_names(endpoint)])
    return [n for n in names if n.startswith(incomplete)]
