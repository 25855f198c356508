"""Everything that draws on the terminal. The only module that imports Rich.

Plain when piped: no colour, spinner or re-wrapping when stdout is not a
terminal, and text is written exactly as given.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import IO, Any, NamedTuple

# C0/C1 control characters other than newline and tab, which could move the
# cursor, change colours or set window titles if written to a terminal, and
# the Unicode direction overrides and isolates, which could reorder what is shown.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_text(text: str | None) -> str:
    """Text made inert for a terminal: control characters shown as ``\\xNN``/``\\uNNNN``."""
    if not text:
        return ""
    return _CONTROL.sub(_visible, text)


_ID_ESCAPES = {9: "\\t", 10: "\\n", 13: "\\r"}


def identifier(text: str | None) -> str:
    """An id as a table shows it: every control character as an escape, tab and
    line breaks too (``a\\nb``, ``a\\tb`` and ``a b`` stay three different ids),
    cut to :data:`MAX_ID` columns."""
    return fit(safe_text((text or "").translate(_ID_ESCAPES)), MAX_ID)


def cell_width(text: str) -> int:
    """Columns ``text`` takes in a terminal: wide (CJK) characters count two,
    combining marks and zero-width characters none."""
    from unicodedata import combining, east_asian_width

    width = 0
    for char in text:
        if combining(char) or char in "\u200b\u200c\u200d\u2060\ufeff":
            continue
        width += 2 if east_asian_width(char) in "WF" else 1
    return width


def fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` columns, ending with an ellipsis when cut."""
    if len(text) <= width // 2 or cell_width(text) <= width:
        return text
    out, used = [], 1  # the ellipsis
    for char in text:
        size = cell_width(char)
        if used + size > width:
            break
        out.append(char)
        used += size
    return "".join(out).rstrip() + "…"


# Widest an id and any other table cell but a row's last are shown (columns);
# longer ones are cut with an ellipsis, so one long id or name cannot widen
# every row. ``--json`` is exact.
MAX_ID, MAX_CELL = 40, 100


def json_text(data: Any) -> str:
    """JSON that is safe on a terminal and means exactly ``data``.

    ``json.dumps`` escapes C0 controls but writes DEL, C1 controls and direction
    overrides as they are; here they are ``\\uNNNN`` escapes too, which any JSON
    reader turns back into the same characters.
    """
    text = json.dumps(data, indent=2, ensure_ascii=False)
    return _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n"


@dataclass
class Env:
    """The streams and terminal facts a command runs with; tests replace it."""

    stdin: IO[str] = field(default_factory=lambda: sys.stdin)
    stdout: IO[str] = field(default_factory=lambda: sys.stdout)
    stderr: IO[str] = field(default_factory=lambda: sys.stderr)
    markdown: bool = True
    # Columns to draw stdout in (None: the terminal's), for output gathered for a pager.
    width: int | None = None

    def __post_init__(self) -> None:
        self._out = self._err = None

    @staticmethod
    def _isatty(stream: IO[str]) -> bool:
        try:
            return stream.isatty()
        except (AttributeError, ValueError):
            return False

    @property
    def stdin_isatty(self) -> bool:
        return self._isatty(self.stdin)

    @property
    def stdout_isatty(self) -> bool:
        return self._isatty(self.stdout)

    @property
    def stderr_isatty(self) -> bool:
        return self._isatty(self.stderr)

    @property
    def no_color(self) -> bool:
        return bool(os.environ.get("NO_COLOR"))

    @property
    def rich_output(self) -> bool:
        """Whether replies are rendered (Markdown, spinner) rather than written as is."""
        return self.stdout_isatty and self.markdown and not self.no_color

    def console(self) -> Any:
        if self._out is None:
            self._out = _make_console(self.stdout, self.stdout_isatty, self.no_color, self.width)
        return self._out

    def err_console(self) -> Any:
        if self._err is None:
            self._err = _make_console(self.stderr, self.stderr_isatty, self.no_color)
        return self._err

    # -- small outputs --------------------------------------------------------
    def error(self, message: str) -> None:
        self.stderr.write(f"agentcli: error: {safe_text(message)}\n")
        self.stderr.flush()

    def warning(self, message: str) -> None:
        self.stderr.write(f"agentcli: warning: {safe_text(message)}\n")
        self.stderr.flush()

    def info(self, message: str) -> None:
        """A one-line notice on stderr (dim in a terminal)."""
        if self.stderr_isatty and not self.no_color:
            from rich.text import Text

            self.err_console().print(Text(safe_text(message), style="dim"))
        else:
            self.stderr.write(safe_text(message) + "\n")
            self.stderr.flush()

    def status(self, text: str) -> Any:
        """A transient spinner on stderr while waiting, only in a terminal."""
        if not (self.stderr_isatty and not self.no_color):
            from contextlib import nullcontext

            return nullcontext()
        return self.err_console().status(_dim(text), spinner="dots")

    def print_json(self, data: Any) -> None:
        self.stdout.write(json_text(data))
        self.stdout.flush()

    # -- data views on stdout -------------------------------------------------
    # In a terminal, text is made inert (``safe_text``) and styled; piped, it is
    # written exactly as stored, so the output is data a script can use.
    def line(self, text: str | Marked = "", style: str | None = None) -> None:
        """One line of text, styled in a terminal."""
        if self.stdout_isatty:
            self.console().print(_rich_text(text, style))
        else:
            plain = text.plain if isinstance(text, Marked) else text
            self.stdout.write(plain + "\n")
            self.stdout.flush()

    def block(self, text: str) -> None:
        """A stored or model-written text: Markdown when rendering, else as is."""
        if self.rich_output:
            self.console().print(markdown(text))
        elif self.stdout_isatty:
            self.console().print(_rich_text(text, None))
        else:
            self.stdout.write(text if text.endswith("\n") else text + "\n")
            self.stdout.flush()

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[str | Marked]]) -> None:
        """A table: Rich in a terminal, else columns aligned with two spaces.

        Every cell but a row's last is cut to :data:`MAX_CELL` columns."""
        rows = [_fitted(row) for row in rows]
        if self.stdout_isatty:
            from rich import box
            from rich.table import Table

            table = Table(box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False)
            for name in headers:
                table.add_column(name, overflow="fold")
            for row in rows:
                table.add_row(*(_rich_text(cell, None) for cell in row))
            self.console().print(table)
            return
        self.stdout.write(plain_table(headers, rows))
        self.stdout.flush()


class Marked(NamedTuple):
    """Text with highlighted parts (e.g. a search match): ``(piece, highlighted)`` pairs."""

    pieces: tuple[tuple[str, bool], ...]

    @property
    def plain(self) -> str:
        return "".join(piece for piece, _ in self.pieces)


HIGHLIGHT_STYLE = "bold yellow"


def _rich_text(text: str | Marked, style: str | None) -> Any:
    from rich.text import Text

    if isinstance(text, Marked):
        out = Text(style=style or "")
        for piece, marked in text.pieces:
            out.append(safe_text(piece), style=HIGHLIGHT_STYLE if marked else None)
        return out
    return Text(safe_text(text), style=style or "")


def _fitted(row: Sequence[str | Marked]) -> list[str | Marked]:
    """A row made inert, every cell but the last cut to :data:`MAX_CELL` columns."""
    cells = list(row)
    for i, cell in enumerate(cells[:-1]):
        if isinstance(cell, str):
            cells[i] = fit(safe_text(cell), MAX_CELL)
    return cells


def plain_table(headers: Sequence[str], rows: Sequence[Sequence[str | Marked]]) -> str:
    """Columns aligned with two spaces by display width (a CJK character takes
    two); the last column is not padded. Control characters are made visible:
    a table is for reading (``--json`` is the data)."""
    cells = [[safe_text(c.plain if isinstance(c, Marked) else c) for c in row] for row in rows]
    grid = [list(headers), *cells]
    widths = [max(cell_width(row[i]) for row in grid) for i in range(len(headers))]
    lines = []
    for row in grid:
        padded = [
            cell + " " * (width - cell_width(cell))
            for cell, width in zip(row[:-1], widths, strict=False)
        ]
        lines.append("  ".join([*padded, row[-1]]).rstrip())
    return "\n".join(lines) + "\n"


def _dim(text: str) -> Any:
    """A Rich Text in the dim style, made inert."""
    from rich.text import Text

    return Text(safe_text(text), style="dim")


def _make_console(stream: IO[str], isatty: bool, no_color: bool, width: int | None = None) -> Any:
    from rich.console import Console

    return Console(
        file=stream,
        width=width,
        force_terminal=isatty or None,
        no_color=no_color,
        highlight=False,
        markup=False,
        emoji=False,
        soft_wrap=not isatty,
    )


@contextmanager
def no_echo(stream: Any) -> Iterator[None]:
    """Keys typed while a reply streams are not echoed: an echoed ``^C`` or
    typeahead would shift the live display and leave stale lines behind.
    Ctrl-C still interrupts; the keys are read at the next prompt."""
    try:
        import termios
    except ImportError:  # not a POSIX system
        yield
        return
    try:
        fd = stream.fileno()
        saved = termios.tcgetattr(fd)
    except (AttributeError, ValueError, OSError, termios.error):
        yield  # not a terminal
        return
    quiet = list(saved)
    quiet[3] &= ~(termios.ECHO | getattr(termios, "ECHOCTL", 0))
    termios.tcsetattr(fd, termios.TCSANOW, quiet)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSANOW, saved)


class ReplyStream:
    """Shows a reply while it streams.

    Rich mode: a spinner until the first token, then the tail of the rendered
    Markdown that fits the screen; when done the live area is cleared and the
    whole reply printed once, so a reply taller than the screen is neither cut
    nor duplicated. Plain mode: each piece is written as it arrives.
    """

    def __init__(self, env: Env):
        self.env = env
        self._quiet = ExitStack()
        self.parts: list[str] = []
        self._live: Any = None

    def __enter__(self) -> ReplyStream:
        self._quiet.enter_context(no_echo(self.env.stdin))
        if self.env.rich_output:
            from rich.live import Live

            self._live = Live(
                self._renderable(),
                console=self.env.console(),
                transient=True,
                refresh_per_second=10,
                auto_refresh=True,
            )
            self._live.start()
        return self

    def feed(self, text: str) -> None:
        self.parts.append(text)
        if self._live is not None:
            if len(self.parts) == 1:  # from the spinner to the text; then Live redraws
                self._live.update(self._renderable())
        else:
            # Piped: the reply as is. A terminal without Markdown (--no-markdown,
            # NO_COLOR) still gets no escape sequences from the model.
            self.env.stdout.write(safe_text(text) if self.env.stdout_isatty else text)
            self.env.stdout.flush()

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def _renderable(self) -> Any:
        if not self.parts:
            from rich.spinner import Spinner

            return Spinner("dots", text="thinking…", style="dim")
        return _Tail(lambda: markdown(self.text))

    def __exit__(self, *exc: object) -> None:
        self._quiet.close()
        if self._live is not None:
            self._live.stop()
            if self.parts:
                self.env.console().print(markdown(self.text))
        elif self.parts and not self.text.endswith("\n"):
            self.env.stdout.write("\n")
            self.env.stdout.flush()


class _Tail:
    """A renderable showing only the last lines of another that fit the screen.

    ``make`` builds the inner renderable when drawn (at most the refresh rate),
    not on every streamed piece.
    """

    def __init__(self, make: Callable[[], Any]):
        self.make = make

    def __rich_console__(self, console: Any, options: Any):
        from rich.segment import Segment

        height = max(console.size.height - 2, 3)
        lines = console.render_lines(self.make(), options, pad=False)
        for line in lines[-height:]:
            yield from line
            yield Segment.line()


def markdown(text: str) -> Any:
    """A reply as Markdown for the terminal, its single line breaks kept.

    Markdown joins the lines of a paragraph (a "soft" break); a chat reply's
    ``Roses are red\nViolets are blue`` is two lines to the person reading it,
    so every soft break is rendered as a hard one. Code blocks are untouched
    (their lines are never soft breaks).
    """
    from rich.markdown import Markdown

    # Links show their target: a terminal hyperlink would hide where it goes.
    shown = Markdown(safe_text(text), hyperlinks=False)
    _hard_breaks(getattr(shown, "parsed", []))
    return shown


def _hard_breaks(tokens: Sequence[Any]) -> None:
    """Turn the soft line breaks of parsed Markdown (markdown-it tokens) into hard ones."""
    for token in tokens:
        if token.type == "softbreak":
            token.type, token.tag = "hardbreak", "br"
        if token.children:
            _hard_breaks(token.children)


def print_table(env: Env, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A table of stored text; piped, each row one line (white space folded, controls visible)."""
    if not env.stdout_isatty:
        rows = [[safe_text(" ".join(cell.split())) for cell in row] for row in rows]
    env.table(columns, rows)
