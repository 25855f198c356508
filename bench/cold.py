"""Cold-process rows: start-up of `--help` and the list commands, one-shot chat, peak memory.

Every command is a new process started by a small wrapper (peak.py) that
times it and reads its peak memory; the commands compared start in turn,
round after round, and each row is a ratio of medians.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from data import BENCH_USER
from harness import Command, Outcome, median, ratio, rounds
from peers import Peer
from report import Row, below, mb, ms
from server import MODEL

AGENTCLI = str(Path(sys.executable).with_name("agentcli"))
WORKERS = Path(__file__).with_name("workers")
PROMPT = "Write one line about the sea."

MEMORIES_LIST = "`agentcli memories list --user U`, cold process"
PEAK = "peak memory of `memories list`"
CHAT = "one-shot piped `chat`, whole process"
TYPER_APP = "a one-command Typer app printing a line"
LLM_LOGS = "`llm logs -n 1`"
LLM_PROMPT = '`llm -m MODEL "prompt"`'
BARE_SCRIPT = "a bare Python script: `import openai`, the same single call"


@dataclass
class Setup:
    tmp: Path
    url: str
    small_db: Path
    peers: dict[str, Peer]

    def env(self) -> dict[str, str]:
        """The environment without agentcli, OpenAI or llm settings from outside.

        Byte-code is written and used as in any installed package (the peers'
        is compiled at install time); PYTHONDONTWRITEBYTECODE would have
        agentcli, installed in development mode, compiled at every start.
        """
        prefixes = ("AGENTCLI_", "OPENAI_", "LLM_")
        env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
        for name in ("NO_COLOR", "PYTHONDONTWRITEBYTECODE"):
            env.pop(name, None)
        return env

    def agentcli_env(self, db: Path) -> dict[str, str]:
        home = self.tmp / "agentcli-home"
        home.mkdir(exist_ok=True)
        return {
            "AGENTCLI_HOME": str(home),
            "AGENTCLI_DB": str(db),
            "AGENTCLI_USER": BENCH_USER,
            "AGENTCLI_MODEL": MODEL,
            "OPENAI_BASE_URL": self.url,
            "OPENAI_API_KEY": "bench",
        }

    def copy_db(self, source: Path, name: str) -> Path:
        target = self.tmp / f"{name}.db"
        shutil.copyfile(source, target)
        return target

    def llm_env(self) -> dict[str, str]:
        """llm's own directory, with the local server as an extra OpenAI model."""
        home = self.tmp / "llm-home"
        home.mkdir(exist_ok=True)
        (home / "extra-openai-models.yaml").write_text(
            f"- model_id: {MODEL}\n  model_name: {MODEL}\n  api_base: {self.url!r}\n"
        )
        return {"LLM_USER_PATH": str(home), "OPENAI_API_KEY": "bench"}


def peer_problem(setup: Setup, name: str) -> str | None:
    peer = setup.peers.get(name)
    if peer is None or peer.error:
        return f"skipped: {name} unavailable ({peer.error if peer else 'not installed'})"
    return None


def compare(base: Row, ours: Outcome, other: Outcome | None, problem: str | None = None) -> Row:
    """Fill a row from two outcomes: milliseconds or, for a "peak" row, megabytes."""
    peak = base.details.get("metric") == "peak"
    value = (lambda o: o.median_mb) if peak else (lambda o: o.median_ms)
    show = mb if peak else ms
    base.agentcli = show(value(ours)) if not ours.error else "—"
    base.details.update({"agentcli": ours.as_dict()})
    if ours.error:
        base.problem = f"agentcli failed ({ours.error})"
    if other is None:
        base.problem = base.problem or problem
        return base
    base.other = show(value(other)) if not other.error else "—"
    base.details["other"] = other.as_dict()
    if other.error:
        base.problem = base.problem or f"{other.name} failed ({other.error})"
    base.ratio = ratio(value(ours), value(other))
    return base


def startup_rows(setup: Setup, reps: int) -> list[Row]:
    db = setup.copy_db(setup.small_db, "startup")
    env = setup.agentcli_env(db)
    commands = {
        "floor": Command("typer app", [sys.executable, str(WORKERS / "floor_app.py")]),
        "help": Command("agentcli --help", [AGENTCLI, "--help"], env),
        "sessions": Command("agentcli sessions list", [AGENTCLI, "sessions", "list"], env),
        "memories": Command(
            "agentcli memories list", [AGENTCLI, "memories", "list", "--user", BENCH_USER], env
        ),
    }
    llm_missing = peer_problem(setup, "llm")
    if not llm_missing:
        llm = setup.peers["llm"].bin("llm")
        llm_env = setup.llm_env()
        for n in range(3):  # something for `llm logs` to show
            subprocess.run(
                [llm, "-m", MODEL, f"{PROMPT} ({n})"],
                env={**setup.env(), **llm_env},
                capture_output=True,
                stdin=subprocess.DEVNULL,
                timeout=60,
            )
        commands["llm"] = Command("llm logs -n 1", [llm, "logs", "-n", "1"], llm_env)
    out = rounds(list(commands.values()), reps, base_env=setup.env())
    got = {key: out[cmd.name] for key, cmd in commands.items()}
    memories, floor, llm_logs = got["memories"], got["floor"], got.get("llm")
    return [
        compare(below(MEMORIES_LIST, LLM_LOGS, 0.3), memories, llm_logs, llm_missing),
        compare(below("same", TYPER_APP, 1.5), memories, floor),
        compare(below("`agentcli --help`", TYPER_APP, 1.3), got["help"], floor),
        compare(below("`agentcli sessions list`", TYPER_APP, 1.5), got["sessions"], floor),
        compare(below(PEAK, LLM_LOGS, 0.5, metric="peak"), memories, llm_logs, llm_missing),
    ]


def chat_rows(setup: Setup, reps: int) -> list[Row]:
    db = setup.copy_db(setup.small_db, "chat")
    env = setup.agentcli_env(db)
    server_env = {"OPENAI_BASE_URL": setup.url, "OPENAI_API_KEY": "bench"}
    commands = [
        Command("agentcli chat", [AGENTCLI, "chat"], env, stdin=PROMPT.encode()),
        Command(
            "openai script",
            [sys.executable, str(WORKERS / "openai_call.py"), MODEL, PROMPT],
            server_env,
        ),
    ]
    llm_missing = peer_problem(setup, "llm")
    if not llm_missing:
        llm = setup.peers["llm"].bin("llm")
        commands.append(Command("llm prompt", [llm, "-m", MODEL, PROMPT], setup.llm_env()))
    out = rounds(commands, reps, base_env=setup.env())
    ours = out["agentcli chat"]
    return [
        compare(below(CHAT, LLM_PROMPT, 1.0), ours, out.get("llm prompt"), llm_missing),
        compare(below("same", BARE_SCRIPT, 1.15), ours, out["openai script"]),
    ]


def import_times(setup: Setup, reps: int = 5) -> dict[str, float]:
    """Median cumulative import time (ms) of agentcli.cli and of typer alone, -X importtime."""
    found: dict[str, list[float]] = {"agentcli.cli": [], "typer": []}
    for _ in range(reps):
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", "import agentcli.cli"],
            capture_output=True,
            text=True,
            env=setup.env(),
        )
        for line in done.stderr.splitlines():
            parts = [p.strip() for p in line.split("|")]
            if len(parts) == 3 and parts[2] in found:
                found[parts[2]].append(int(parts[1]) / 1000)
    return {f"import {name} (ms)": median(v) for name, v in found.items() if v}
