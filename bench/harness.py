"""Running commands side by side: cold processes in rounds (ABC BCA CAB ...), medians."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

PEAK = Path(__file__).with_name("peak.py")


@dataclass
class Command:
    """One process to start: argv, extra environment, bytes for stdin."""

    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    stdin: bytes = b""


@dataclass
class Outcome:
    """Every timed start of one command; ``error`` when it failed (then not timed further)."""

    name: str
    wall_s: list[float] = field(default_factory=list)
    maxrss_kb: list[int] = field(default_factory=list)
    error: str | None = None

    @property
    def median_ms(self) -> float | None:
        return statistics.median(self.wall_s) * 1000 if self.wall_s and not self.error else None

    @property
    def median_mb(self) -> float | None:
        if not self.maxrss_kb or self.error:
            return None
        return statistics.median(self.maxrss_kb) / 1024

    def as_dict(self) -> dict:
        return {
            "median_ms": self.median_ms,
            "median_peak_mb": self.median_mb,
            "runs": len(self.wall_s),
            "wall_ms": [round(s * 1000, 2) for s in self.wall_s],
            "peak_kb": self.maxrss_kb,
            "error": self.error,
        }


def start(cmd: Command, base_env: dict[str, str]) -> tuple[dict, bytes, bytes]:
    """Run ``cmd`` once under the peak-memory wrapper; returns (result, stdout, stderr)."""
    env = {**base_env, **cmd.env}
    with tempfile.NamedTemporaryFile("r", suffix=".json") as result:
        proc = subprocess.run(
            [sys.executable, "-S", str(PEAK), result.name, *cmd.argv],
            input=cmd.stdin,
            capture_output=True,
            env=env,
            timeout=120,
        )
        text = Path(result.name).read_text()
    if proc.returncode != 0 or not text:
        return {"exit": proc.returncode, "wall_s": 0.0, "maxrss_kb": 0}, proc.stdout, proc.stderr
    return json.loads(text), proc.stdout, proc.stderr


def failure(result: dict, stderr: bytes) -> str | None:
    if result["exit"] == 0:
        return None
    lines = [ln for ln in stderr.decode(errors="replace").splitlines() if ln.strip()]
    return f"exit {result['exit']}: {lines[-1].strip()[:160] if lines else 'no message'}"


def rounds(
    commands: list[Command], reps: int, *, warmup: int = 1, base_env: dict | None = None
) -> dict[str, Outcome]:
    """Start every command once per round, in turn, ``warmup`` rounds untimed.

    Each round starts one command further along (ABC, BCA, CAB, ...), so every
    command runs equally often first, after each of the others, and last.
    """
    env = dict(base_env if base_env is not None else os.environ)
    outcomes = {c.name: Outcome(c.name) for c in commands}
    for round_no in range(warmup + reps):
        shift = round_no % len(commands)
        for cmd in commands[shift:] + commands[:shift]:
            out = outcomes[cmd.name]
            if out.error:
                continue
            result, _, stderr = start(cmd, env)
            out.error = failure(result, stderr)
            if round_no >= warmup and not out.error:
                out.wall_s.append(result["wall_s"])
                out.maxrss_kb.append(result["maxrss_kb"])
    return outcomes


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None
