"""Memory selection on LoCoMo: is the memory a question needs in the context?

Each conversation's ``observation`` facts become one user's memories (in
conversation order, so "recent" means late in the conversation). Each question
of categories 1-4 is asked as the user's message. A question counts as
covered when a memory whose dialogue id is among its evidence ids is in the
context. Compared: all memories, the most recent that fit the budget,
agentcli's selection, and the same without its recency weight. Then the time
to choose among 10,000 memories.

    python bench/locomo_memory.py [PATH] [--budget 1500]

PATH defaults to ../shared/data/locomo/locomo-dev.json from the repository
root. The data (CC BY-NC 4.0) is read from there, never copied.
``python bench/run.py`` runs this too (``--locomo PATH``).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agentcli.adapters.sqlite import Memory, SqliteDb
from agentcli.core.protocols import Store
from agentcli.core.text import normalize_memory
from agentcli.services import recall
from agentcli.services.recall import CHARS_PER_TOKEN, select_memories

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT / ".." / "shared" / "data" / "locomo" / "locomo-dev.json"
CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
SCALE = 10_000
SELECTION = "agentcli selection"
CEILING = "all memories"
_DIA = re.compile(r"D:?(\d+):(\d+)")


def dia_ids(value: object) -> set[str]:
    """Dialogue ids in any of the dataset's spellings ('D1:3', 'D8:6; D9:17', 'D:11:26')."""
    return {f"D{a}:{b}" for a, b in _DIA.findall(json.dumps(value))}


def facts(conversation: dict) -> list[tuple[str, set[str]]]:
    """(fact, dialogue ids) in conversation order."""
    out = []
    sessions = conversation["observation"]
    for key in sorted(sessions, key=lambda k: int(re.findall(r"\d+", k)[0])):
        for speaker_facts in sessions[key].values():
            for text, ids in speaker_facts:
                out.append((text, dia_ids(ids)))
    return out


def load(db: SqliteDb, user_id: str, items: list[tuple[str, set[str]]]) -> dict[str, set[str]]:
    """Import the facts with increasing timestamps; returns normalized text -> dia ids."""
    start = datetime(2023, 1, 1, tzinfo=UTC)
    rows, sources = [], {}
    for i, (text, ids) in enumerate(items):
        stamp = (start + timedelta(minutes=i)).isoformat().replace("+00:00", "Z")
        rows.append({"memory": text, "created_at": stamp})
        sources.setdefault(normalize_memory(text), set()).update(ids)
    db.import_memories(user_id, rows, actor="user")
    return sources


@contextmanager
def recency_weight(weight: float) -> Iterator[None]:
    """The selection with another recency weight (for the row without it)."""
    saved = recall.RECENCY_WEIGHT
    recall.RECENCY_WEIGHT = weight
    try:
        yield
    finally:
        recall.RECENCY_WEIGHT = saved


def in_memory() -> Store:
    return SqliteDb(":memory:")


def evaluate(
    data: list[dict], budget: int, make_store: Callable[[], Store] = in_memory
) -> dict[str, dict]:
    db = make_store()

    def unweighted(user: str, question: str) -> list[Memory]:
        with recency_weight(0.0):
            return select_memories(db, user, question, budget).memories

    methods: dict[str, Callable[[str, str], list[Memory]]] = {
        CEILING: lambda user, q: db.list_memories(user),
        "most recent that fit": lambda user, q: db.recent_memories(user, budget * CHARS_PER_TOKEN)[
            0
        ],
        SELECTION: lambda user, q: select_memories(db, user, q, budget).memories,
        f"{SELECTION}, no recency weight": unweighted,
    }
    stats = {name: {"hit": {c: 0 for c in CATEGORIES}, "tokens": []} for name in methods}
    asked = {c: 0 for c in CATEGORIES}
    for conversation in data:
        user = conversation["sample_id"]
        sources = load(db, user, facts(conversation))
        for qa in conversation["qa"]:
            category = qa["category"]
            if category not in CATEGORIES:
                continue
            asked[category] += 1
            evidence = dia_ids(qa.get("evidence", []))
            for name, choose in methods.items():
                chosen = choose(user, qa["question"])
                stats[name]["tokens"].append(sum(len(m.memory) for m in chosen) // CHARS_PER_TOKEN)
                if any(sources[normalize_memory(m.memory)] & evidence for m in chosen):
                    stats[name]["hit"][category] += 1
    for entry in stats.values():
        entry["share"] = {c: entry["hit"][c] / asked[c] for c in CATEGORIES}
        entry["overall"] = sum(entry["hit"].values()) / sum(asked.values())
        entry["mean_tokens"] = statistics.mean(entry.pop("tokens"))
    stats["_asked"] = asked
    return stats


def selection_time(
    data: list[dict], budget: int, make_store: Callable[[], Store] = in_memory
) -> tuple[float, float, int]:
    """Median and 95th percentile ms to choose among SCALE memories of one user."""
    pool = [text for conversation in data for text, _ in facts(conversation)]
    rows = [{"memory": f"{pool[i % len(pool)]} (note {i // len(pool)})"} for i in range(SCALE)]
    db = make_store()
    db.import_memories("many", rows, actor="user")
    questions = [qa["question"] for c in data for qa in c["qa"] if qa["category"] in CATEGORIES]
    times = []
    for question in questions:
        started = time.perf_counter()
        select_memories(db, "many", question, budget)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95)], db.count_memories("many")


def measure(path: Path, budget: int = 1500, make_store: Callable[[], Store] = in_memory) -> dict:
    """Coverage per method and the selection time at SCALE memories, as plain data.

    ``make_store`` gives an empty store (SQLite in memory unless told otherwise)."""
    data = json.loads(Path(path).read_text())
    stats = evaluate(data, budget, make_store)
    asked = stats.pop("_asked")
    median, p95, count = selection_time(data, budget, make_store)
    return {
        "conversations": len(data),
        "memories": sum(len(facts(c)) for c in data),
        "asked": asked,
        "budget": budget,
        "methods": stats,
        "selection_ms": {"memories": count, "median": median, "p95": p95},
    }


def markdown(result: dict) -> str:
    """The table and the sentences the README shows, from :func:`measure`'s result."""
    asked, methods = result["asked"], result["methods"]
    lines = [
        textwrap.fill(
            f"On the {result['conversations']} development conversations "
            f"({result['memories']:,} memories, {sum(asked.values()):,} questions, "
            f"budget {result['budget']:,} tokens):",
            78,
        ),
        "",
        "| memories in context | covered | "
        + " | ".join(f"{CATEGORIES[c]} ({asked[c]})" for c in CATEGORIES)
        + " | tokens per question |",
        "|---|---:|" + "---:|" * len(CATEGORIES) + "---:|",
    ]
    for name, entry in methods.items():
        cells = " | ".join(f"{entry['share'][c]:.1%}" for c in CATEGORIES)
        lines.append(f"| {name} | {entry['overall']:.1%} | {cells} | {entry['mean_tokens']:,.0f} |")
    ours, ceiling = methods[SELECTION], methods[CEILING]
    timing = result["selection_ms"]
    summary = (
        f"The selection reaches {ours['overall'] / ceiling['overall']:.0%} of the ceiling "
        f"with {ours['mean_tokens'] / ceiling['mean_tokens']:.0%} of its tokens. Choosing "
        f"among {timing['memories']:,} memories of one user takes a median of "
        f"{timing['median']:.1f} ms (95th percentile {timing['p95']:.1f} ms)."
    )
    lines += ["", textwrap.fill(summary, 78)]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", default=str(DEFAULT_DATA))
    parser.add_argument("--budget", type=int, default=1500, help="token budget (chars / 4)")
    args = parser.parse_args()
    print(markdown(measure(Path(args.path), args.budget)), end="")


if __name__ == "__main__":
    main()
