"""``agentcli serve`` under load, side by side with Agno's AgentOS serving the same agent.

    python bench/serve_bench.py                  # both servers, the README's numbers
    python bench/serve_bench.py --quick          # fewer requests, for development
    python bench/serve_bench.py --update-readme  # and copy the table into README.md

Both serve an equivalent agent (history of 5 runs, agentic memory, session
summaries, SQLite) against the tests' scripted Chat Completions server on
127.0.0.1, each in its own process; AgentOS is installed from PyPI into its
own virtualenv under bench/.cache (once). Measured, one server at a time:

- overhead: one client, one request at a time (not streamed), a model that
  answers at once; per request, the client's latency minus the time the model
  server spent on the model calls made during it. The client waits for the
  work that follows a reply to finish before the next request, so that work
  never lands inside another request's window.
- load: 32 clients, each its own session (8 users), with a model that takes
  200 ms per call; throughput and the latency percentiles of every request.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import venv
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

import httpx  # noqa: E402
from chat_server import ChatServer, Text  # noqa: E402
from server import MODEL, answer  # noqa: E402
from serving import Served, server_env  # noqa: E402

CACHE = HERE / ".cache"
AGENTOS_VENV = CACHE / "venvs" / "agentos"
AGENTOS_PACKAGES = [
    "agno",
    "sqlalchemy[asyncio]",
    "openai",
    "fastapi",
    "uvicorn",
    "python-multipart",
]
RESULTS = HERE / "results"
README = HERE.parent / "README.md"
MARKERS = ("<!-- bench:serve:start -->", "<!-- bench:serve:end -->")
SIZES = {
    "full": {"overhead": 200, "clients": 32, "runs": 10},
    "quick": {"overhead": 40, "clients": 32, "runs": 3},
}
MODEL_DELAY = 0.2
ROUNDS = 2


def log(message: str) -> None:
    sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


class TimedModel(ChatServer):
    """The scripted model, recording when each call started and ended; ``delay``
    seconds before each answer."""

    def __init__(self) -> None:
        self.delay = 0.0
        self.spans: list[tuple[float, float]] = []
        self.active = 0
        self.last_end = 0.0
        self._count = threading.Lock()
        super().__init__(default=self._answer)

    def _answer(self, request: dict[str, Any]) -> Text:
        if self.delay:
            time.sleep(self.delay)
        return answer(request)

    def _handler(self) -> Any:
        base = super()._handler()
        model = self

        class Timed(base):  # type: ignore[misc, valid-type]
            def do_POST(self) -> None:
                started = time.perf_counter()
                with model._count:
                    model.active += 1
                try:
                    super().do_POST()
                finally:
                    ended = time.perf_counter()
                    with model._count:
                        model.active -= 1
                        model.last_end = ended
                        model.spans.append((started, ended))

        return Timed

    def model_time(self, start: float, end: float) -> float:
        with self._count:
            return sum(e - s for s, e in self.spans if s >= start and e <= end)

    def settle(self, quiet: float = 0.02, timeout: float = 30.0) -> None:
        """Wait until no model call is under way and none began for ``quiet`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._count:
                idle = self.active == 0 and time.perf_counter() - self.last_end > quiet
            if idle:
                return
            time.sleep(quiet / 2)


@dataclass
class Target:
    name: str
    url: str
    post: Any  # (client, user, session, message) -> response
    stop: Any
    error: str | None = None
    results: dict[str, Any] = field(default_factory=dict)


def agentcli_target(home: Path, model: TimedModel) -> Target:
    served = Served("--threads", "32", env=server_env(home, model.url, AGENTCLI_MODEL=MODEL))

    def post(client: httpx.Client, user: str, session: str, message: str) -> httpx.Response:
        body = {"user_id": user, "session_id": session, "message": message}
        return client.post(served.url + "/runs", json=body)

    return Target("agentcli serve", served.url, post, served.stop)


def ensure_agentos() -> str | None:
    """AgentOS's virtualenv, installed once; the reason when it cannot be."""
    python = AGENTOS_VENV / "bin" / "python"
    ready = AGENTOS_VENV / ".bench-ready"
    if not ready.exists():
        log("installing agno (AgentOS) into its own virtualenv (once) ...")
        venv.EnvBuilder(with_pip=True, clear=True).create(AGENTOS_VENV)
        done = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", *AGENTOS_PACKAGES],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
            return f"pip install failed: {lines[-1] if lines else done.returncode}"
        ready.write_text(" ".join(AGENTOS_PACKAGES) + "\n")
    return None


def agno_version() -> str | None:
    code = "import importlib.metadata as m; print(m.version('agno'))"
    done = subprocess.run(
        [str(AGENTOS_VENV / "bin" / "python"), "-c", code], capture_output=True, text=True
    )
    return done.stdout.strip() or None


def agentos_target(home: Path, model: TimedModel) -> Target:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    logfile = (home / "agentos.log").open("w")
    proc = subprocess.Popen(
        [
            str(AGENTOS_VENV / "bin" / "python"),
            str(HERE / "workers" / "agentos_app.py"),
            str(home / "agno.db"),
            model.url,
            MODEL,
            str(port),
        ],
        stdout=logfile,
        stderr=subprocess.STDOUT,
        env={k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AGNO_"))},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"AgentOS did not start; see {home / 'agentos.log'}")
        time.sleep(0.2)

    def post(client: httpx.Client, user: str, session: str, message: str) -> httpx.Response:
        form = {"message": message, "stream": "false", "user_id": user, "session_id": session}
        return client.post(url + "/agents/bench/runs", data=form)

    def stop() -> int:
        proc.terminate()
        try:
            return proc.wait(30)
        finally:
            logfile.close()

    return Target("Agno AgentOS", url, post, stop)


def checked(response: httpx.Response) -> None:
    if response.status_code != 200:
        raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def overhead(targets: list[Target], model: TimedModel, count: int) -> None:
    """Sequential requests, alternating between the servers (ABAB...), sessions of 10 runs."""
    model.delay = 0.0
    clients = {t.name: httpx.Client(timeout=60) for t in targets}
    samples: dict[str, list[float]] = {t.name: [] for t in targets}
    try:
        for i in range(count + 5):
            for target in targets:
                client = clients[target.name]
                session = f"overhead-{i // 10}"
                model.settle()
                start = time.perf_counter()
                checked(target.post(client, "bench-user", session, f"hello number {i}"))
                end = time.perf_counter()
                if i >= 5:  # warm-up
                    samples[target.name].append((end - start) - model.model_time(start, end))
    finally:
        for client in clients.values():
            client.close()
    for target in targets:
        ms = [s * 1000 for s in samples[target.name]]
        target.results["overhead_ms"] = {
            "median": percentile(ms, 50),
            "p90": percentile(ms, 90),
            "runs": len(ms),
        }


def load(target: Target, model: TimedModel, clients: int, runs: int, round_no: int = 0) -> None:
    """``clients`` threads, each its own session, ``runs`` requests one after another;
    the latencies and time of every round are pooled."""
    model.delay = MODEL_DELAY
    model.settle()
    latencies: list[float] = target.results.setdefault("_latencies", [])
    lock = threading.Lock()

    def client(n: int) -> None:
        with httpx.Client(timeout=120) as http:
            for run in range(runs):
                start = time.perf_counter()
                session = f"load-{round_no}-{n}"
                checked(target.post(http, f"user-{n % 8}", session, f"load {n} run {run}"))
                with lock:
                    latencies.append(time.perf_counter() - start)

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for job in [pool.submit(client, n) for n in range(clients)]:
            job.result()
    wall = target.results.get("_wall", 0.0) + time.perf_counter() - started
    target.results["_wall"] = wall
    target.results["load"] = {
        "clients": clients,
        "requests": len(latencies),
        "throughput_rps": len(latencies) / wall,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "model_ms": MODEL_DELAY * 1000,
    }
    model.delay = 0.0
    model.settle()


def table(targets: list[Target], notes: list[str]) -> str:
    rows = [
        "| server | overhead per request (median) | throughput at 32 clients | p50 | p99 |",
        "|---|---:|---:|---:|---:|",
    ]
    for t in targets:
        if t.error:
            rows.append(f"| {t.name} | {t.error} | | | |")
            continue
        o, ld = t.results["overhead_ms"], t.results["load"]
        rows.append(
            f"| {t.name} | {o['median']:.1f} ms | {ld['throughput_rps']:.1f} req/s | "
            f"{ld['p50_ms']:.0f} ms | {ld['p99_ms']:.0f} ms |"
        )
    return "\n".join(rows + [""] + notes)


def update_readme(text: str) -> None:
    readme = README.read_text()
    start, end = (readme.index(m) for m in MARKERS)
    README.write_text(readme[: start + len(MARKERS[0])] + "\n" + text + "\n" + readme[end:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests")
    parser.add_argument("--no-agentos", action="store_true", help="agentcli serve alone")
    parser.add_argument("--update-readme", action="store_true", help="copy the table to README")
    args = parser.parse_args()
    size = SIZES["quick" if args.quick else "full"]
    home = Path(tempfile.mkdtemp(prefix="serve-bench-"))
    load_before = os.getloadavg()[0]
    notes = []
    with TimedModel() as model:
        targets = []
        log("starting agentcli serve ...")
        targets.append(agentcli_target(home / "agentcli", model))
        problem = None if args.no_agentos else ensure_agentos()
        if args.no_agentos:
            problem = "not run (--no-agentos)"
        if problem is None:
            log("starting AgentOS ...")
            (home / "agno").mkdir()
            try:
                targets.append(agentos_target(home / "agno", model))
                notes.append(f"Agno {agno_version()} (AgentOS on uvicorn), installed from PyPI.")
            except RuntimeError as exc:
                problem = str(exc)
        try:
            running = [t for t in targets if t.error is None]
            log(f"overhead: {size['overhead']} requests each, alternating ...")
            overhead(running, model, size["overhead"])
            for round_no in range(ROUNDS):  # taking turns, as the machine's load drifts
                for target in running:
                    log(f"load on {target.name}: {size['clients']} clients x {size['runs']} runs")
                    load(target, model, size["clients"], size["runs"], round_no)
        finally:
            for target in targets:
                target.stop()
        if problem is not None:
            targets.append(Target("Agno AgentOS", "", None, None, error=problem))
    notes.append(
        f"Overhead: {size['overhead']} sequential requests each, alternating, with a model that "
        f"answers at once. Load: {ROUNDS} rounds, taking turns, of {size['clients']} clients x "
        f"{size['runs']} requests, a model taking {MODEL_DELAY * 1000:.0f} ms per call; "
        f"a shared 2-core machine (load average {load_before:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after)."
    )
    text = table(targets, notes)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    data = {
        t.name: {"error": t.error, **{k: v for k, v in t.results.items() if not k.startswith("_")}}
        for t in targets
    }
    (RESULTS / "serve.json").write_text(json.dumps(data, indent=2) + "\n")
    if args.update_readme:
        update_readme(text)


if __name__ == "__main__":
    main()
