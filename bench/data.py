"""Generated databases for the benchmark, built once with bulk inserts and cached.

``big``: 1,000,000 messages across 100 users; user-000 has a 10,000-run
session ``long`` and a 10-run session ``short``, and more memories than fit
the context (so a run ranks them). ``small``: what a person's database looks
like for the start-up commands (bench-user: 20 sessions of 10 runs, 25
memories) plus heavy-user with 10,000 memories for memory selection.

Every session longer than the history window has a summary in the steady
state of summaries on: ``sessions.summary_through`` is the pk of the last run
it covers (as in ``agentcli.services.summary``), all but the last WINDOW runs.

The schema comes from agentcli itself (its migrations); the cache key is a
hash of those migrations and of the sizes here, so a schema change rebuilds.
"""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agentcli.adapters.sqlite import SqliteDb
from agentcli.adapters.sqlite.schema import MIGRATIONS

DATA_VERSION = "2"
USERS = 100
MESSAGES = 1_000_000
LONG_RUNS = 10_000
SHORT_RUNS = 10
SESSIONS_PER_USER = 20
MEMORIES_PER_USER = 20
BIG_USER_MEMORIES = 500  # about 5 times what fits the default budget of 1,500 tokens
BENCH_SESSIONS = 20
BENCH_RUNS = 200
BENCH_MEMORIES = 25
HEAVY_MEMORIES = 10_000
WINDOW = 5  # history runs the benchmark's agents use; the summaries cover the rest

BIG_USER = "user-000"
BENCH_USER = "bench-user"
HEAVY_USER = "heavy-user"
TOPICS = ["work", "family", "food", "travel", "health", "music", "sport", "pets", "books", "code"]


def cache_key() -> str:
    sizes = [DATA_VERSION, USERS, MESSAGES, LONG_RUNS, SHORT_RUNS, MEMORIES_PER_USER]
    sizes += [BIG_USER_MEMORIES, BENCH_SESSIONS, BENCH_RUNS, BENCH_MEMORIES, HEAVY_MEMORIES, WINDOW]
    blob = json.dumps([MIGRATIONS, sizes]).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def ensure(cache: Path, name: str, log=print) -> Path:
    """The cached database ``name`` ("big" or "small"), built first if missing."""
    path = cache / "db" / f"{name}-{cache_key()}.db"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    for old in path.parent.glob(f"{name}-*.db*"):
        old.unlink()
    partial = path.with_suffix(".building")
    partial.unlink(missing_ok=True)
    started = time.monotonic()
    log(f"building the {name} database (once; cached under {path.parent.name}/) ...")
    SqliteDb(partial).close()  # the schema, from agentcli's own migrations
    conn = sqlite3.connect(partial, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("BEGIN")
        (_build_big if name == "big" else _build_small)(conn, random.Random(name))
        conn.execute("COMMIT")
        conn.execute("PRAGMA journal_mode = WAL")
    finally:
        conn.close()
    for suffix in ("-wal", "-shm"):
        Path(str(partial) + suffix).unlink(missing_ok=True)
    partial.rename(path)
    log(f"built {path.name} in {time.monotonic() - started:.0f} s")
    return path


# -- generated text ------------------------------------------------------------
def _vocabulary(rng: random.Random, size: int = 3000) -> list[str]:
    syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "de", "pa", "zo", "qui", "bel"]
    words = {"".join(rng.choices(syllables, k=rng.randint(1, 4))) for _ in range(size * 2)}
    return sorted(words)[:size]


def _sentences(rng: random.Random, vocab: list[str], count: int, low: int, high: int):
    for _ in range(count):
        yield " ".join(rng.choices(vocab, k=rng.randint(low, high))).capitalize() + "."


class _Clock:
    """Increasing ISO 8601 UTC timestamps."""

    def __init__(self, start: datetime):
        self.now = start

    def tick(self, seconds: float) -> str:
        self.now += timedelta(seconds=seconds)
        return self.now.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- the big database ------------------------------------------------------------
def _build_big(conn: sqlite3.Connection, rng: random.Random) -> None:
    vocab = _vocabulary(rng)
    clock = _Clock(datetime(2024, 1, 1, tzinfo=UTC))
    sessions: list[tuple[str, str]] = [(BIG_USER, "long"), (BIG_USER, "short")]
    for u in range(USERS):
        sessions += [(f"user-{u:03d}", f"s{n:02d}") for n in range(SESSIONS_PER_USER)]
    total_runs = MESSAGES // 2
    schedule = [1] * LONG_RUNS
    others = total_runs - LONG_RUNS - SHORT_RUNS
    schedule += [3 + i % (len(sessions) - 2) for i in range(others)]
    rng.shuffle(schedule)
    schedule += [2] * SHORT_RUNS  # the short session is the most recent
    texts = _sentences(rng, vocab, MESSAGES, 6, 30)
    run_rows, message_rows, used = [], [], {}
    for run_pk, session_pk in enumerate(schedule, start=1):
        started, finished = clock.tick(30), clock.tick(2)
        run_id = uuid.UUID(int=rng.getrandbits(128)).hex
        run_rows.append((run_pk, run_id, session_pk, started, finished))
        message_rows.append((run_pk * 2 - 1, run_pk, 0, "user", next(texts), started))
        message_rows.append((run_pk * 2, run_pk, 1, "assistant", next(texts), finished))
        used[session_pk] = (used.get(session_pk, (started,))[0], finished)
    _insert_sessions(conn, sessions, used, schedule)
    conn.executemany(
        "INSERT INTO runs (id, run_id, session_pk, status, model, input_tokens, output_tokens, "
        "started_at, finished_at, duration_ms) "
        "VALUES (?, ?, ?, 'completed', 'bench-model', 120, 40, ?, ?, 2000)",
        run_rows,
    )
    with _fts_rebuilt_after(conn, "messages"):
        conn.executemany(
            "INSERT INTO messages (id, run_pk, seq, role, content, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            message_rows,
        )
    for u in range(USERS):
        count = BIG_USER_MEMORIES if f"user-{u:03d}" == BIG_USER else MEMORIES_PER_USER
        _insert_memories(conn, rng, vocab, f"user-{u:03d}", count, clock)


def _insert_sessions(conn, sessions, used, schedule) -> None:
    """Sessions with a summary covering all but their last WINDOW runs (steady state)."""
    has_summary = "summary_through" in _columns(conn, "sessions")
    runs_of: dict[int, list[int]] = {}
    for run_pk, session_pk in enumerate(schedule, start=1):
        runs_of.setdefault(session_pk, []).append(run_pk)
    for pk, (user_id, session_id) in enumerate(sessions, start=1):
        created, updated = used[pk]
        conn.execute(
            "INSERT INTO sessions (id, user_id, session_id, name, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (pk, user_id, session_id, f"Session {session_id}", created, updated),
        )
        runs = runs_of[pk]
        if has_summary and len(runs) > WINDOW:
            conn.execute(
                "UPDATE sessions SET summary = ?, summary_through = ?, summary_updated_at = ? "
                "WHERE id = ?",
                (
                    f"Summary of the first {len(runs) - WINDOW} runs.",
                    runs[-WINDOW - 1],
                    updated,
                    pk,
                ),
            )


@contextmanager
def _fts_rebuilt_after(conn: sqlite3.Connection, table: str):
    """Bulk insert into ``table`` without its FTS triggers, then rebuild the index once."""
    triggers = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?", (table,)
    ).fetchall()
    for name, _ in triggers:
        conn.execute(f"DROP TRIGGER {name}")
    yield
    conn.execute(f"INSERT INTO {table}_fts ({table}_fts) VALUES ('rebuild')")
    for _, sql in triggers:
        conn.execute(sql)


# -- the small database ------------------------------------------------------------
def _build_small(conn: sqlite3.Connection, rng: random.Random) -> None:
    vocab = _vocabulary(rng)
    clock = _Clock(datetime(2025, 1, 1, tzinfo=UTC))
    sessions = [(BENCH_USER, f"thread-{n:02d}") for n in range(BENCH_SESSIONS)]
    schedule = [1 + i % len(sessions) for i in range(BENCH_RUNS)]
    texts = _sentences(rng, vocab, 2 * len(schedule), 6, 30)
    used = {}
    for run_pk, session_pk in enumerate(schedule, start=1):
        started, finished = clock.tick(60), clock.tick(3)
        conn.execute(
            "INSERT INTO runs (id, run_id, session_pk, status, model, started_at, finished_at) "
            "VALUES (?, ?, ?, 'completed', 'bench-model', ?, ?)",
            (run_pk, uuid.UUID(int=rng.getrandbits(128)).hex, session_pk, started, finished),
        )
        for seq, role in enumerate(("user", "assistant")):
            conn.execute(
                "INSERT INTO messages (run_pk, seq, role, content, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (run_pk, seq, role, next(texts), finished),
            )
        used[session_pk] = (used.get(session_pk, (started,))[0], finished)
    _insert_sessions(conn, sessions, used, schedule)
    _insert_memories(conn, rng, vocab, BENCH_USER, BENCH_MEMORIES, clock)
    _insert_memories(conn, rng, vocab, HEAVY_USER, HEAVY_MEMORIES, clock)


# -- memories ---------------------------------------------------------------------
def _columns(conn: sqlite3.Connection, table: str) -> dict[str, tuple]:
    return {row[1]: row for row in conn.execute(f"PRAGMA table_info({table})")}


def _insert_memories(conn, rng, vocab, user_id: str, count: int, clock: _Clock) -> None:
    """Insert straight into ``memories`` (its FTS index follows by trigger).

    Only columns the current schema has are filled; any other NOT NULL column
    without a default gets an empty value of its type.
    """
    columns = _columns(conn, "memories")
    seen: set[str] = set()
    rows = []
    while len(rows) < count:
        text = next(_sentences(rng, vocab, 1, 5, 14))
        normalized = " ".join(text.lower().rstrip(".").split())
        if normalized in seen:
            continue
        seen.add(normalized)
        now = clock.tick(5)
        row = {
            "user_id": user_id,
            "memory": f"The user {text[0].lower()}{text[1:]}",
            "normalized": normalized,
            "topics": json.dumps(rng.sample(TOPICS, rng.randint(0, 2))),
            "created_at": now,
            "updated_at": now,
        }
        for name, (_, _, kind, notnull, default, pk) in columns.items():
            if name not in row and notnull and default is None and not pk:
                row[name] = 0 if "INT" in (kind or "").upper() else ""
        rows.append({k: v for k, v in row.items() if k in columns})
    names = list(rows[0])
    conn.executemany(
        f"INSERT INTO memories ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
        [tuple(r[n] for n in names) for r in rows],
    )
