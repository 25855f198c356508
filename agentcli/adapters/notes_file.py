"""Notes about model endpoints in one small JSON file, shared by every process.

The file maps ``"<endpoint> <model>"`` to that pair's notes. It is a cache:
a damaged or missing file is read as empty, a write that fails is ignored, and
two processes writing at once can only lose one of their notes. No key or
secret is ever written to it.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ..core.notes import Notes

# More endpoints than anyone uses; the oldest entries go first beyond it.
MAX_ENTRIES = 200


class FileNotes(Notes):
    """The notes of one ``scope`` (endpoint and model) in the JSON file at ``path``."""

    def __init__(self, path: Path, scope: str):
        super().__init__()
        self.path = Path(path)
        self.scope = scope
        self._loaded = False

    def scoped(self, scope: str) -> FileNotes:
        return FileNotes(self.path, scope)

    def _read_all(self) -> dict[str, Any]:
        try:
            with open(self.path, encoding="utf-8") as fh:
                data = json.load(fh)
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _load(self) -> None:
        if self._loaded:
            return
        entry = self._read_all().get(self.scope)
        self._values = dict(entry) if isinstance(entry, dict) else {}
        self._loaded = True

    def _save(self) -> None:
        data = self._read_all()  # notes of other scopes, maybe written since
        data.pop(self.scope, None)
        data[self.scope] = self._values  # last written last: the oldest go first
        while len(data) > MAX_ENTRIES:
            data.pop(next(iter(data)))
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".endpoints-", suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=1, sort_keys=False)
            os.replace(tmp, self.path)
        except OSError:
            try:
                os.unlink(tmp)
            except (OSError, UnboundLocalError):
                pass
