"""Reading the files attached to a message (``chat -f PATH``, ``/file PATH``).

Each file is read whole, up to what the total size limit leaves, and becomes
an :class:`~agentcli.core.attachments.Attachment`: an image by its first
bytes, else UTF-8 text; anything else is refused (:class:`FileRefused`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from ..core.attachments import Attachment, FileRefused, from_bytes, too_large
from ..core.errors import UsageError

STDIN = "-"
STDIN_NAME = "stdin"


def read_files(
    paths: Sequence[str],
    *,
    limit: int,
    already: Sequence[Attachment] = (),
    stdin: Callable[[int], bytes] | None = None,
) -> list[Attachment]:
    """The files at ``paths`` (``-``: ``stdin(n)``, which reads at most ``n`` bytes),
    whose sizes, with those ``already`` attached, add up to at most ``limit`` bytes."""
    if list(paths).count(STDIN) > 1:
        raise UsageError("standard input (-f -) can be attached once")
    total = sum(a.size for a in already)
    found: list[Attachment] = []
    for given in paths:
        room = limit - total
        if given == STDIN:
            if stdin is None:
                raise UsageError("-f - reads standard input, which is a terminal here")
            name, data = STDIN_NAME, stdin(room + 1)
            if len(data) > room:
                raise FileRefused(too_large(total + len(data), limit, at_least=True))
        else:
            name, data = given, _read(Path(given).expanduser(), given, total, limit)
        total += len(data)
        found.append(from_bytes(name, data))
    return found


def _read(path: Path, name: str, total: int, limit: int) -> bytes:
    try:
        if path.is_dir():
            raise UsageError(f"{name} is a directory: attach files one by one")
        size = path.stat().st_size
        if total + size > limit:
            raise FileRefused(too_large(total + size, limit))
        with open(path, "rb") as fh:
            data = fh.read(limit - total + 1)  # a file still growing stops at the limit
    except OSError as exc:
        raise UsageError(f"cannot read {name}: {exc.strerror or exc}") from None
    if total + len(data) > limit:
        raise FileRefused(too_large(total + len(data), limit, at_least=True))
    return data
