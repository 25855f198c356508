"""agentcli's benchmark: start-up, chat, per-run overhead, memory selection, summaries.

    python bench/run.py                  # every number in the README (a few minutes once cached)
    python bench/run.py --quick          # fewer repetitions, for development
    python bench/run.py --update-readme  # and copy the tables into README.md

Builds its databases and installs its peers (llm, Agno) once, under
bench/.cache; starts its own Chat Completions server on 127.0.0.1; prints
the targets table and writes it as JSON and Markdown (bench/results/).
Two more sections follow it: memory selection on LoCoMo (locomo_memory.py;
the dataset is read where it lies, ``--locomo PATH``) and prompt tokens with
and without session summaries (summary_tokens.py).
"""

from __future__ import annotations

import argparse
import compileall
import os
import platform
import sqlite3
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import agents  # noqa: E402
import cold  # noqa: E402
import data  # noqa: E402
import locomo_memory  # noqa: E402
import peers  # noqa: E402
import report  # noqa: E402
import selection  # noqa: E402
import server  # noqa: E402
import summary_tokens  # noqa: E402

CACHE = HERE / ".cache"
RESULTS = HERE / "results"
README = HERE.parent / "README.md"
REPS = {
    "full": {"startup": 40, "chat": 30, "agents": 200, "sizes": 200, "selection": 500},
    "quick": {"startup": 10, "chat": 8, "agents": 30, "sizes": 30, "selection": 100},
}
STEPS = ("startup", "chat", "agents", "sizes", "selection")
SECTIONS = ("locomo", "summaries")


def log(message: str) -> None:
    sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--json", type=Path, default=RESULTS / "latest.json")
    parser.add_argument("--markdown", type=Path, default=RESULTS / "latest.md")
    parser.add_argument(
        "--only", help=f"comma-separated parts of {', '.join(STEPS + SECTIONS)} (default: all)"
    )
    parser.add_argument(
        "--locomo",
        type=Path,
        default=locomo_memory.DEFAULT_DATA,
        help="LoCoMo's locomo-dev.json (default: ../shared/data/locomo/ from the repository)",
    )
    parser.add_argument("--update-readme", action="store_true", help="copy the tables into README")
    args = parser.parse_args()
    mode = "quick" if args.quick else "full"
    reps = REPS[mode]
    parts = args.only.split(",") if args.only else [*STEPS, *SECTIONS]
    unknown = sorted(set(parts) - set(STEPS + SECTIONS))
    if unknown:
        parser.error(
            f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(STEPS + SECTIONS)}"
        )
    steps = [s for s in STEPS if s in parts]

    rows, machine = measure_targets(steps, reps, mode) if steps else ([], None)
    sections = {name: run_section(name, args) for name in SECTIONS if name in parts}
    machine = machine or describe(mode, reps, {})

    report.write_json(args.json, rows, machine, sections)
    report.write_markdown(args.markdown, rows, machine, sections)
    if rows:
        print(report.text(rows))
        print(f"\n{report.machine_line(machine)}")
    for name, section in sections.items():
        print(f"\n## {report.TITLES[name]}\n\n{section['markdown'] or section['problem']}", end="")
    print(f"\nwrote {args.json} and {args.markdown}")
    if args.update_readme:
        blocks = {name: s["markdown"] for name, s in sections.items() if s["markdown"]}
        if rows:
            blocks["performance"] = report.markdown(rows, machine)
        for name in report.update_readme(README, blocks):
            log(f"README has no {report.marker(name, 'start')} marker; {name} not copied")


def measure_targets(steps: list[str], reps: dict, mode: str) -> tuple[list[report.Row], dict]:
    """The rows of the targets table, in the issue's order, and the machine they ran on."""
    with ThreadPoolExecutor(1) as pool:
        installing = pool.submit(peers.ensure, CACHE, log)
        small = data.ensure(CACHE, "small", log)
        big = data.ensure(CACHE, "big", log) if "sizes" in steps else None
        installed = installing.result()
    for peer in installed.values():
        log(f"{peer.name}: {peer.version or peer.error}")

    import agentcli

    compileall.compile_dir(Path(agentcli.__file__).parent, quiet=1)  # as pip would on install
    rows: dict[str, list[report.Row]] = {}
    srv = server.start()
    try:
        with tempfile.TemporaryDirectory(prefix="agentcli-bench-") as tmp:
            setup = cold.Setup(Path(tmp), srv.url, small, installed)
            measure = {
                "startup": lambda: cold.startup_rows(setup, reps["startup"]),
                "chat": lambda: cold.chat_rows(setup, reps["chat"]),
                "agents": lambda: [agents.agno_row(setup, reps["agents"])],
                "sizes": lambda: [agents.size_row(setup, big, reps["sizes"])],
                "selection": lambda: [selection.selection_row(setup, reps["selection"])],
            }
            for step in steps:
                log(f"measuring {step} ...")
                rows[step] = measure[step]()
            imports = cold.import_times(setup)
    finally:
        srv.stop()

    startup = rows.get("startup", [])
    ordered = startup[:4] + [r for s in STEPS[1:] for r in rows.get(s, [])] + startup[4:]
    return ordered, describe(mode, reps, installed) | imports


def run_section(name: str, args: argparse.Namespace) -> dict:
    """One of the sections after the table: its data, its Markdown, or why it did not run."""
    log(f"measuring {name} ...")
    if name == "locomo":
        if not args.locomo.is_file():
            problem = f"skipped: no LoCoMo data at {args.locomo} (pass --locomo PATH)"
            log(problem)
            return {"data": None, "markdown": None, "problem": problem + "\n"}
        found = locomo_memory.measure(args.locomo)
        return {"data": found, "markdown": locomo_memory.markdown(found), "problem": None}
    found = summary_tokens.measure_all()
    return {"data": found, "markdown": summary_tokens.markdown(found), "problem": None}


def describe(mode: str, reps: dict, installed: dict[str, peers.Peer]) -> dict:
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "cpus": len(os.sched_getaffinity(0)),
        "cpu": cpu_model(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "peers": {p.name: p.version for p in installed.values() if p.version},
        "mode": mode,
        "reps": ", ".join(f"{v} {k}" for k, v in reps.items()),
    }


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


if __name__ == "__main__":
    main()
