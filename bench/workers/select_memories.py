"""Time the memory manager choosing memories for a message's context.

Usage: ``select_memories.py DB USER REPS`` (DB: a SQLite file or a PostgreSQL
URL, its schema from ``AGENTCLI_DB_SCHEMA``); prints one JSON object. Calls
``MemoryManager.context_blocks(user_id, message)`` (what a run calls) with
messages made of words from the user's own memories; "pending" when the
blocks hold no memory.
"""

import json
import random
import statistics
import sys
import time

from agentcli import OpenAIChat
from agentcli.runtime import open_store

db_path, user, reps = sys.argv[1], sys.argv[2], int(sys.argv[3])


def messages(db, count: int) -> list[str]:
    texts = [m.memory for m in db.list_memories(user)]
    rng = random.Random(7)
    out = []
    for _ in range(count):
        words = rng.choice(texts).rstrip(".").split()[2:]
        out.append("What do you remember about " + " ".join(rng.sample(words, min(3, len(words)))))
    return out


def main() -> dict:
    try:
        from agentcli.services.memory import MemoryManager

        db = open_store(db_path)
        model = OpenAIChat("bench-model", base_url="http://127.0.0.1:9/v1")
        manager = MemoryManager(db, model=model, agentic=True, automatic=False, token_budget=1500)
        asked = messages(db, reps + 10)
        for message in asked[:10]:  # warm-up
            manager.context_blocks(user, message)
        timings, sizes = [], []
        for message in asked[10:]:
            started = time.perf_counter()
            _, turn = manager.context_blocks(user, message)
            timings.append((time.perf_counter() - started) * 1000)
            sizes.append(len(turn or ""))
    except Exception as exc:
        return {"status": "error", "error": f"{type(exc).__name__}: {exc}"[:200]}
    if not any(sizes):
        return {"status": "pending", "error": "context_blocks chose no memories"}
    return {
        "status": "ok",
        "median_ms": statistics.median(timings),
        "p90_ms": statistics.quantiles(timings, n=10)[-1],
        "runs": len(timings),
        "median_chosen_chars": statistics.median(sizes),
    }


print(json.dumps(main()))
