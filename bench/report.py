"""Rows of the targets table, and writing them (and the sections after it) as
JSON, Markdown and text."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

# Where each part goes in the README: between <!-- bench:NAME:start --> and
# <!-- bench:NAME:end -->.
TITLES = {
    "performance": "Performance targets",
    "locomo": "Memory selection on LoCoMo",
    "summaries": "Prompt tokens with and without session summaries",
}


def marker(name: str, edge: str) -> str:
    return f"<!-- bench:{name}:{edge} -->"


@dataclass
class Row:
    """One target: what agentcli measured, what it is compared with, and the verdict.

    ``limit`` applies to ``ratio`` (kind "max": ratio ≤ limit; "within":
    |ratio − 1| ≤ limit) or, with kind "ms", to agentcli's own median.
    """

    what: str
    compared_with: str
    target: str
    kind: str
    limit: float
    agentcli: str = "—"
    other: str = "—"
    ratio: float | None = None
    value: float | None = None
    problem: str | None = None
    details: dict = field(default_factory=dict)

    @property
    def result(self) -> str:
        if self.problem:
            return self.problem
        if self.kind == "ms":
            if self.value is None:
                return "not measured"
            return "ok" if self.value <= self.limit else "MISSED"
        if self.ratio is None:
            return "not measured"
        if self.kind == "within":
            return "ok" if abs(self.ratio - 1) <= self.limit else "MISSED"
        return "ok" if self.ratio <= self.limit else "MISSED"

    def as_dict(self) -> dict:
        return {**asdict(self), "result": self.result}


def below(what: str, compared_with: str, limit: float, **details) -> Row:
    """A row whose target is a ratio of at most ``limit``."""
    return Row(what, compared_with, f"≤ {limit}×", "max", limit, details=details)


def ms(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.2f} ms" if value < 10 else f"{value:.0f} ms"


def mb(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} MB"


def times(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}×"


def markdown(rows: list[Row], machine: dict) -> str:
    lines = [
        "| what | compared with | agentcli | other | ratio | target | result |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [r.what, r.compared_with, r.agentcli, r.other, times(r.ratio), r.target, r.result]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    lines += ["", machine_line(machine)]
    return "\n".join(lines) + "\n"


def machine_line(machine: dict) -> str:
    peers = ", ".join(f"{k} {v}" for k, v in machine.get("peers", {}).items())
    line = (
        f"Measured {machine['date']} on {machine['cpus']} CPUs ({machine['cpu']}), "
        f"Linux {machine['kernel']}, Python {machine['python']}, SQLite {machine['sqlite']}; "
        f"{peers or 'no peers'}; {machine['mode']} run: medians of {machine['reps']}."
    )
    ours, typer = machine.get("import agentcli.cli (ms)"), machine.get("import typer (ms)")
    if ours is not None and typer is not None:
        line += f" `import agentcli.cli`: {ours:.0f} ms, of which typer {typer:.0f} ms."
    return line


def text(rows: list[Row]) -> str:
    head = ("what", "agentcli", "other", "ratio", "target", "result")
    body = [(r.what, r.agentcli, r.other, times(r.ratio), r.target, r.result) for r in rows]
    widths = [max(len(str(line[i])) for line in [head, *body]) for i in range(len(head))]
    widths[0] = min(widths[0], 58)
    out = []
    for line in [head, *body]:
        cells = [str(c)[:w].ljust(w) for c, w in zip(line, widths, strict=True)]
        out.append("  ".join(cells).rstrip())
    return "\n".join(out)


def write_json(path: Path, rows: list[Row], machine: dict, sections: dict[str, dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"machine": machine, "rows": [r.as_dict() for r in rows]}
    data |= {name: section["data"] or section["problem"] for name, section in sections.items()}
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def write_markdown(path: Path, rows: list[Row], machine: dict, sections: dict[str, dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    parts = [f"## {TITLES['performance']}\n\n{markdown(rows, machine)}"] if rows else []
    for name, section in sections.items():
        parts.append(f"## {TITLES[name]}\n\n{section['markdown'] or section['problem']}")
    path.write_text("\n".join(parts))


def update_readme(readme: Path, blocks: dict[str, str]) -> list[str]:
    """Replace each block between its markers in the README; returns the names without markers."""
    content = readme.read_text()
    missing = []
    for name, block in blocks.items():
        start, end = marker(name, "start"), marker(name, "end")
        at, until = content.find(start), content.find(end)
        if at < 0 or until < at:
            missing.append(name)
            continue
        content = content[: at + len(start)] + "\n" + block + content[until:]
    readme.write_text(content)
    return missing
