"""Agent.run overhead: the time a run takes beyond its HTTP calls.

Each framework runs in its own long-lived worker process (workers/*.py) that
times every run and, inside it, every HTTP exchange of the ``openai`` SDK
(the same hook for both, runs not streamed). Overhead = run wall time minus
HTTP time; the benchmark alternates single runs between the workers
(ABAB ...) after a few warm-up runs, and compares medians.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from cold import Setup, peer_problem
from data import BENCH_USER, BIG_USER
from harness import median, ratio
from report import Row, below, ms
from server import MODEL

WORKERS = Path(__file__).with_name("workers")
WARMUP = 3
SETTINGS = "history on (5 runs), agentic memory, summaries on"


@dataclass
class Series:
    """The timed runs of one agent on one session."""

    label: str
    overhead_ms: list[float] = field(default_factory=list)
    http_ms: list[float] = field(default_factory=list)
    requests: list[int] = field(default_factory=list)
    error: str | None = None

    @property
    def overhead(self) -> float | None:
        return None if self.error else median(self.overhead_ms)

    def as_dict(self) -> dict:
        return {
            "median_overhead_ms": self.overhead,
            "median_http_ms": median(self.http_ms),
            "median_requests_per_run": median(self.requests),
            "runs": len(self.overhead_ms),
            "overhead_ms": [round(v, 3) for v in self.overhead_ms],
            "error": self.error,
        }


class Worker:
    """One agent in its own process, answering one run per request line."""

    def __init__(
        self,
        name: str,
        python: str,
        script: str,
        db: Path | str,
        url: str,
        env: dict,
        log_dir: Path | None = None,
    ):
        """``db``: a SQLite file, or a URL (then ``log_dir`` says where the log goes)."""
        self.name = name
        self.log = ((log_dir or Path(db).parent) / f"{name}.log").open("w")
        self.proc = subprocess.Popen(
            [python, str(WORKERS / script), str(db), url, MODEL],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env=env,
        )

    def run(self, series: Series, user: str, session: str, message: str, *, keep: bool) -> None:
        if series.error:
            return
        request = {"user": user, "session": session, "message": message}
        try:
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
            answer = json.loads(self.proc.stdout.readline() or "null")
        except (BrokenPipeError, ValueError):
            answer = None
        if answer is None:
            series.error = f"the worker stopped (see {self.log.name})"
        elif answer["error"]:
            series.error = answer["error"]
        elif keep:
            series.overhead_ms.append(answer["wall_ms"] - answer["http_ms"])
            series.http_ms.append(answer["http_ms"])
            series.requests.append(answer["requests"])

    def close(self) -> None:
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=60)
        except (BrokenPipeError, subprocess.TimeoutExpired):
            self.proc.kill()
        self.log.close()


def alternate(
    plan: list[tuple[Worker, Series, str, str]], reps: int, *, rotate: bool = False
) -> None:
    """Run each (worker, series, user, session) in turn, WARMUP untimed rounds first.

    With ``rotate`` each round starts one entry further along (AB BA AB ...),
    for entries on one worker; two workers strictly alternate, so that each
    waits idle while the other runs.
    """
    for n in range(WARMUP + reps):
        shift = n % len(plan) if rotate else 0
        for worker, series, user, session in plan[shift:] + plan[:shift]:
            message = f"Tell me something about item {n}."
            worker.run(series, user, session, message, keep=n >= WARMUP)


def agno_row(setup: Setup, reps: int) -> Row:
    row = below(
        f"`Agent.run` overhead beyond the HTTP call ({SETTINGS})",
        "Agno's `Agent.run` with `SqliteDb`, same server and settings",
        0.2,
    )
    problem = peer_problem(setup, "agno")
    workers = [
        Worker(
            "agentcli",
            sys.executable,
            "agentcli_agent.py",
            setup.tmp / "agent.db",
            setup.url,
            setup.env(),
        )
    ]
    if problem is None:
        env = {**setup.env(), "AGNO_TELEMETRY": "false"}
        workers.append(
            Worker(
                "agno",
                setup.peers["agno"].python,
                "agno_agent.py",
                setup.tmp / "agno.db",
                setup.url,
                env,
            )
        )
    series = [Series(w.name) for w in workers]
    try:
        alternate(
            [(w, s, BENCH_USER, "overhead") for w, s in zip(workers, series, strict=True)], reps
        )
    finally:
        for worker in workers:
            worker.close()
    return fill(row, series[0], series[1] if len(series) > 1 else None, problem)


def size_row(setup: Setup, big_db: Path, reps: int) -> Row:
    row = Row(
        "same overhead, 10,000-run session vs 10-run session (1,000,000 messages, 100 users)",
        "itself",
        "within 20 %",
        "within",
        0.2,
    )
    db = setup.copy_db(big_db, "big")
    worker = Worker("agentcli-big", sys.executable, "agentcli_agent.py", db, setup.url, setup.env())
    long, short = Series("10,000 runs"), Series("10 runs")
    try:
        plan = [(worker, short, BIG_USER, "short"), (worker, long, BIG_USER, "long")]
        alternate(plan, reps, rotate=True)
    finally:
        worker.close()
    fill(row, long, short, None)
    row.agentcli, row.other = f"{row.agentcli} (10,000 runs)", f"{row.other} (10 runs)"
    return row


def fill(row: Row, ours: Series, theirs: Series | None, problem: str | None) -> Row:
    row.agentcli = ms(ours.overhead)
    row.details["agentcli"] = ours.as_dict()
    if ours.error:
        row.problem = f"agentcli failed ({ours.error})"
    if theirs is None:
        row.problem = row.problem or problem
        return row
    row.other = ms(theirs.overhead)
    row.details["other"] = theirs.as_dict()
    if theirs.error:
        row.problem = row.problem or f"{theirs.label} failed ({theirs.error})"
    row.ratio = ratio(ours.overhead, theirs.overhead)
    return row
