"""Choosing memories for the context among a user's 10,000 memories."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cold import Setup
from data import HEAVY_MEMORIES, HEAVY_USER
from report import Row, ms

WORKER = Path(__file__).with_name("workers") / "select_memories.py"


def selection_row(setup: Setup, reps: int) -> Row:
    row = Row(
        f"choosing memories for the context, {HEAVY_MEMORIES:,} memories for the user",
        "—",
        "≤ 5 ms median",
        "ms",
        5.0,
    )
    db = setup.copy_db(setup.small_db, "selection")
    done = subprocess.run(
        [sys.executable, str(WORKER), str(db), HEAVY_USER, str(reps)],
        capture_output=True,
        text=True,
        env=setup.env(),
        timeout=600,
    )
    try:
        result = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        lines = done.stderr.strip().splitlines()
        result = {"status": "error", "error": lines[-1] if lines else f"exit {done.returncode}"}
    row.details["agentcli"] = result
    if result["status"] == "ok":
        row.value = result["median_ms"]
        row.agentcli = ms(row.value)
    else:
        row.problem = f"{result['status']}: {result['error']}"
    return row
