"""Files attached to a message (``chat -f``, ``/file``): text put into the message, images
sent beside it.

A text file goes into the user's message as a delimited block naming it::

    ----- BEGIN FILE notes.txt (1,234 bytes) -----
    the text of the file
    ----- END FILE notes.txt -----

The blocks come first, in the order given, then the message itself, after a
blank line (as piped text comes before an argument). That text is what is
stored as the user's message, so later runs see the files in the history.

An image (PNG, JPEG, GIF or WebP, known by its first bytes) is named in the
message by one line, ``----- IMAGE photo.png (12,345 bytes) -----``, and sent
to the model as an ``image_url`` content part holding a ``data:`` URL. Only
its name, type and size are stored: later runs see the line, not the image.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any, NamedTuple

from .errors import UsageError

# Tokens counted for one image when fitting the context window: servers count
# images their own way (OpenAI: 85 to about 1,100 for a high-detail image), so
# a generous fixed estimate.
IMAGE_TOKENS = 1024

# An image type, from the first bytes of the file.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


class Attachment(NamedTuple):
    """One attached file: its name as given, its size in bytes, and its content
    (``text`` for a text file; ``data`` and ``mime`` for an image)."""

    name: str
    size: int
    kind: str  # "text" or "image"
    text: str | None = None
    mime: str | None = None
    data: bytes | None = None

    def meta(self) -> dict[str, Any]:
        """What is stored with the run: name, size and kind (and an image's type)."""
        found: dict[str, Any] = {"name": self.name, "size": self.size, "kind": self.kind}
        if self.mime:
            found["mime"] = self.mime
        return found

    def image_part(self) -> dict[str, Any]:
        """This image as a Chat Completions content part."""
        encoded = base64.b64encode(self.data or b"").decode("ascii")
        return {"type": "image_url", "image_url": {"url": f"data:{self.mime};base64,{encoded}"}}


class FileRefused(UsageError):
    """A file that cannot be attached (binary, too large, an image the model cannot take)."""


def image_type(data: bytes) -> str | None:
    """The MIME type of a PNG, JPEG, GIF or WebP image, else ``None``."""
    for magic, mime in _MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def from_bytes(name: str, data: bytes) -> Attachment:
    """An attachment of ``data``: an image by its magic bytes, else UTF-8 text.

    Raises :class:`FileRefused` for anything else (NUL bytes, invalid UTF-8).
    """
    mime = image_type(data)
    if mime is not None:
        return Attachment(name, len(data), "image", mime=mime, data=data)
    if b"\x00" in data:
        raise FileRefused(f"{name} is a binary file (it holds NUL bytes): only text and images")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileRefused(
            f"{name} is not UTF-8 text (invalid byte at offset {exc.start:,}): only text and images"
        ) from None
    return Attachment(name, len(data), "text", text=text.removeprefix("\ufeff"))


def file_block(attachment: Attachment) -> str:
    """The block that stands for ``attachment`` in the message text."""
    head = f"{attachment.name} ({attachment.size:,} bytes)"
    if attachment.kind == "image":
        return f"----- IMAGE {head} -----"
    body = (attachment.text or "").rstrip("\n")
    return f"----- BEGIN FILE {head} -----\n{body}\n----- END FILE {attachment.name} -----"


def compose(message: str, attachments: Sequence[Attachment]) -> str:
    """The message text with the files' blocks before it."""
    blocks = [file_block(a) for a in attachments]
    if message.strip():
        blocks.append(message)
    return "\n\n".join(blocks)


def images(attachments: Sequence[Attachment]) -> list[Attachment]:
    return [a for a in attachments if a.kind == "image"]


def check_total(attachments: Sequence[Attachment], limit: int) -> None:
    """Refuse files whose sizes add up to more than ``limit`` bytes."""
    total = sum(a.size for a in attachments)
    if total > limit:
        raise FileRefused(too_large(total, limit))


def too_large(total: int, limit: int, *, at_least: bool = False) -> str:
    size = f"more than {limit:,}" if at_least else f"{total:,}"
    return (
        f"the attached files are {size} bytes; the limit is {limit:,} bytes "
        "(--file-limit or file_limit raises it)"
    )


def no_vision(model: str, name: str) -> str:
    return (
        f"{name} is an image and model {model} is not declared to accept images: "
        "add it to vision_models in the config file, or pass --vision"
    )


BLOCK_STARTS = ("----- BEGIN FILE ", "----- IMAGE ")


def typed_part(text: str) -> str:
    """What the person typed in a message built by :func:`compose` (the blocks of
    its files skipped); the files' names when it is files alone."""
    names: list[str] = []
    rest = text
    while rest.startswith(BLOCK_STARTS):
        head, _, after = rest.partition("\n")
        if head.startswith("----- IMAGE "):
            names.append(head.removeprefix("----- IMAGE ").rsplit(" (", 1)[0])
            rest = after
        else:
            name = head.removeprefix("----- BEGIN FILE ").rsplit(" (", 1)[0]
            end = f"----- END FILE {name} -----"
            at = rest.find("\n" + end)
            if at < 0:
                return text
            names.append(name)
            rest = rest[at + 1 + len(end) :]
        rest = rest.lstrip("\n")
    return rest if rest.strip() else ", ".join(names)
