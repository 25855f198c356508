"""agentcli on PostgreSQL, side by side with agentcli on SQLite and with Agno's PostgresDb.

    python bench/postgres.py            # every row (about 15 minutes, most of it loading)
    python bench/postgres.py --quick    # fewer repetitions
    python bench/postgres.py --pg-url postgresql://user:pw@host/db   # your own server

Starts a throwaway PostgreSQL cluster on 127.0.0.1 (the tests' pg_server.py)
unless given a server, and loads the benchmark's big database (1,000,000
messages, 100 users; bench/data.py, cached as SQLite) into it with COPY, plus
the heavy user's 10,000 memories. Then, over loopback, against the
benchmark's Chat Completions server:

- ``Agent.run`` overhead beyond the HTTP call: PostgreSQL and SQLite on the
  same data, the 10-run and the 10,000-run session, runs alternating;
- memory selection among one user's 10,000 memories (100 users);
- LoCoMo coverage at the same budget on both stores (--locomo PATH);
- Agno's ``Agent.run`` with its ``PostgresDb`` against agentcli's, same server.

Writes bench/results/postgres.json and postgres.md.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import data  # noqa: E402
import locomo_memory  # noqa: E402
import peers  # noqa: E402
import server  # noqa: E402
from agents import Series, Worker, alternate  # noqa: E402
from cold import Setup  # noqa: E402
from data import BENCH_USER, BIG_USER, HEAVY_USER  # noqa: E402
from harness import ratio  # noqa: E402
from pg_server import Cluster  # noqa: E402  (tests/, on the path through server.py)

CACHE = HERE / ".cache"
RESULTS = HERE / "results"
BIG_SCHEMA = "bench_big"
SQLITE_SELECTION_REPS = 20
REPS = {
    "full": {"sizes": 200, "agno": 200, "selection": 500},
    "quick": {"sizes": 30, "agno": 30, "selection": 100},
}
# Every column the SQLite tables and the PostgreSQL tables share, in order.
COLUMNS = {
    "sessions": "id, user_id, session_id, name, created_at, updated_at, summary, "
    "summary_through, summary_updated_at",
    "runs": "id, run_id, session_pk, status, model, input_tokens, output_tokens, error, owner, "
    "started_at, finished_at, duration_ms",
    "messages": "id, run_pk, seq, role, content, tool_calls, tool_call_id, created_at",
    "model_calls": "id, user_id, session_pk, run_pk, purpose, status, model, input_tokens, "
    "output_tokens, error, created_at, duration_ms",
    "memories": "id, user_id, memory, normalized, topics, created_at, updated_at, "
    "created_session_id, created_run_id, updated_session_id, updated_run_id",
    "memory_events": "id, memory_id, user_id, action, before, after, actor, run_id, created_at",
}
SEARCH_INDEXES = {
    "messages_search": "CREATE INDEX messages_search ON messages USING gin (search) "
    "WITH (fastupdate = off)",
    "memories_search": "CREATE INDEX memories_search ON memories USING gin (search) "
    "WITH (fastupdate = off)",
}


def log(message: str) -> None:
    sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


# -- loading ------------------------------------------------------------------------
def load(sqlite_path: Path, small_path: Path, url: str, schema: str) -> float:
    """Copy the big SQLite database, and the heavy user's memories, into ``schema``."""
    import psycopg

    from agentcli.adapters.postgres import PostgresDb

    started = time.monotonic()
    PostgresDb(db_url=url, db_schema=schema).close()  # the schema, from agentcli's migrations
    source = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
    source.execute("ATTACH DATABASE ? AS small", (f"file:{small_path}?mode=ro",))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"SET search_path TO {schema}")
        for name in SEARCH_INDEXES:  # built once at the end, not row by row
            conn.execute(f"DROP INDEX {name}")
        for table, columns in COLUMNS.items():
            with conn.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in source.execute(f"SELECT {columns} FROM {table} ORDER BY id"):
                    copy.write_row(row)
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
            )
        heavy = COLUMNS["memories"].removeprefix("id, ")
        with conn.cursor().copy(f"COPY memories ({heavy}) FROM STDIN") as copy:
            for row in source.execute(
                f"SELECT {heavy} FROM small.memories WHERE user_id = ? ORDER BY id", (HEAVY_USER,)
            ):
                copy.write_row(row)
        for sql in SEARCH_INDEXES.values():
            conn.execute(sql)
        conn.execute("VACUUM ANALYZE")
    source.close()
    return time.monotonic() - started


def server_version(url: str) -> str:
    import psycopg

    with psycopg.connect(url) as conn:
        return str(conn.execute("SHOW server_version").fetchone()[0]).split()[0]  # type: ignore[index]


def sqlite_twin(big: Path, small: Path, target: Path) -> None:
    """The same data on SQLite: the big database plus the heavy user's memories."""
    import shutil

    shutil.copyfile(big, target)
    conn = sqlite3.connect(target)
    conn.execute("ATTACH DATABASE ? AS small", (f"file:{small}?mode=ro",))
    cols = COLUMNS["memories"].removeprefix("id, ")
    conn.execute(
        f"INSERT INTO memories ({cols}) SELECT {cols} FROM small.memories WHERE user_id = ?",
        (HEAVY_USER,),
    )
    conn.commit()
    conn.close()


# -- rows ---------------------------------------------------------------------------
def overhead(setup: Setup, sqlite_db: Path, url: str, reps: int) -> dict:
    """Overhead per run on both stores, 10-run and 10,000-run sessions, runs alternating."""
    pg_env = {**setup.env(), "AGENTCLI_DB_SCHEMA": BIG_SCHEMA}
    sq = Worker(
        "sqlite-big", sys.executable, "agentcli_agent.py", sqlite_db, setup.url, setup.env()
    )
    pg = Worker(
        "postgres-big", sys.executable, "agentcli_agent.py", url, setup.url, pg_env, setup.tmp
    )
    keys = ("sqlite 10", "postgres 10", "sqlite 10000", "postgres 10000")
    series = {key: Series(key) for key in keys}
    try:
        plan = [
            (sq, series["sqlite 10"], BIG_USER, "short"),
            (pg, series["postgres 10"], BIG_USER, "short"),
            (sq, series["sqlite 10000"], BIG_USER, "long"),
            (pg, series["postgres 10000"], BIG_USER, "long"),
        ]
        alternate(plan, reps)
    finally:
        sq.close()
        pg.close()
    return {key: s.as_dict() for key, s in series.items()}


def selection(setup: Setup, sqlite_db: Path, url: str, reps: int) -> dict:
    """Choosing memories for a run's context: the heavy user's 10,000 memories.

    SQLite gets fewer repetitions: on this data its plan probes the full-text
    index once per memory of the user (about a second a word).
    """
    worker = HERE / "workers" / "select_memories.py"
    found = {}
    for name, target, env, count in (
        ("sqlite", str(sqlite_db), setup.env(), min(reps, SQLITE_SELECTION_REPS)),
        ("postgres", url, {**setup.env(), "AGENTCLI_DB_SCHEMA": BIG_SCHEMA}, reps),
    ):
        done = subprocess.run(
            [sys.executable, str(worker), target, HEAVY_USER, str(count)],
            capture_output=True,
            text=True,
            env=env,
            timeout=3000,
        )
        try:
            found[name] = json.loads(done.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            found[name] = {"status": "error", "error": done.stderr.strip()[-300:]}
    return found


def locomo(path: Path, url: str) -> dict:
    """LoCoMo coverage and selection time, SQLite in memory and PostgreSQL, same budget."""
    from agentcli.adapters.postgres import PostgresDb

    made: list[PostgresDb] = []

    def fresh() -> PostgresDb:
        db = PostgresDb(db_url=url, db_schema=f"locomo_{len(made)}")
        made.append(db)
        return db

    # SQLite's coverage alone: its selection time is bench/run.py's (LoCoMo section).
    data = json.loads(path.read_text())
    stats = locomo_memory.evaluate(data, 1500)
    stats.pop("_asked")
    results: dict = {"sqlite": {"budget": 1500, "methods": stats}}
    try:
        results["postgres"] = locomo_memory.measure(path, make_store=fresh)
    finally:
        for db in made:
            db.close()
    return results


def agno(setup: Setup, url: str, reps: int) -> dict:
    """Agno's PostgresDb against agentcli's PostgresDb: fresh stores on the same server."""
    found = peers.ensure(CACHE, log)["agno"]
    if found.error:
        return {"error": f"agno: {found.error}"}
    has_driver = subprocess.run(
        [found.python, "-c", "import psycopg, sqlalchemy"], capture_output=True
    )
    if has_driver.returncode != 0:
        log("installing psycopg into agno's virtualenv (once) ...")
        subprocess.run(
            [found.python, "-m", "pip", "install", "-q", "psycopg[binary]"], check=True, timeout=600
        )
    agno_url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    env = {**setup.env(), "AGNO_TELEMETRY": "false"}
    ours_env = {**setup.env(), "AGENTCLI_DB_SCHEMA": "bench_agno_race"}
    ours = Worker(
        "agentcli-pg", sys.executable, "agentcli_agent.py", url, setup.url, ours_env, setup.tmp
    )
    theirs = Worker(
        "agno-pg", found.python, "agno_pg_agent.py", agno_url, setup.url, env, setup.tmp
    )
    series = [Series("agentcli PostgresDb"), Series(f"Agno {found.version} PostgresDb")]
    try:
        plan = [(ours, series[0], BENCH_USER, "overhead")]
        plan.append((theirs, series[1], BENCH_USER, "overhead"))
        alternate(plan, reps)
    finally:
        ours.close()
        theirs.close()
    return {"agno_version": found.version, **{s.label: s.as_dict() for s in series}}


# -- report -------------------------------------------------------------------------
def ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} ms"


def markdown(result: dict) -> str:
    o = result["overhead"]
    med = {k: v["median_overhead_ms"] for k, v in o.items()}
    pg_vs_sqlite = ratio(med["postgres 10"], med["sqlite 10"])
    pg_flat = ratio(med["postgres 10000"], med["postgres 10"])
    sq_flat = ratio(med["sqlite 10000"], med["sqlite 10"])
    sel = result["selection"]
    lines = [
        "| measured (loopback, same data) | SQLite | PostgreSQL | target | result |",
        "|---|---:|---:|---|---|",
        f"| `Agent.run` overhead beyond the HTTP call, 10-run session | {ms(med['sqlite 10'])} "
        f"| {ms(med['postgres 10'])} | PostgreSQL ≤ 2× SQLite | {_x(pg_vs_sqlite)} "
        f"{'ok' if pg_vs_sqlite is not None and pg_vs_sqlite <= 2 else 'MISSED'} |",
        f"| same, 10,000-run session (1,000,000 messages) | {ms(med['sqlite 10000'])} "
        f"| {ms(med['postgres 10000'])} | within 20 % of the 10-run session | "
        f"SQLite {_x(sq_flat)}, PostgreSQL {_x(pg_flat)} "
        f"{'ok' if pg_flat is not None and abs(pg_flat - 1) <= 0.2 else 'MISSED'} |",
    ]
    if all(sel[k].get("status") == "ok" for k in ("sqlite", "postgres")):
        pg_ms = sel["postgres"]["median_ms"]
        lines.append(
            f"| memory selection, 10,000 memories of one user among 100 users (median; "
            f"SQLite over {sel['sqlite']['runs']} runs) "
            f"| {ms(sel['sqlite']['median_ms'])} | {ms(pg_ms)} | ≤ 10 ms | "
            f"{'ok' if pg_ms <= 10 else 'MISSED'} |"
        )
    else:
        lines.append(f"| memory selection | — | — | ≤ 10 ms | {json.dumps(sel)[:200]} |")
    loco = result.get("locomo")
    if loco:
        s = loco["sqlite"]["methods"][locomo_memory.SELECTION]["overall"]
        p = loco["postgres"]["methods"][locomo_memory.SELECTION]["overall"]
        gap = abs(s - p) * 100
        lines.append(
            f"| LoCoMo coverage of the selection, budget {loco['sqlite']['budget']:,} tokens "
            f"| {s:.1%} | {p:.1%} | within 3 points | {gap:.1f} points "
            f"{'ok' if gap <= 3 else 'MISSED'} |"
        )
        timing = loco["postgres"]["selection_ms"]
        lines.append(
            f"| LoCoMo: choosing among {timing['memories']:,} memories of one user (median) "
            f"| — | {ms(timing['median'])} | — | — |"
        )
    a = result.get("agno", {})
    if "error" in a:
        lines.append(f"| against Agno's `PostgresDb` | — | — | side by side | {a['error']} |")
    elif a:
        ours, theirs = (v for k, v in a.items() if k != "agno_version")
        lines += [
            "",
            "| `Agent.run` overhead beyond the HTTP call, same PostgreSQL server | agentcli "
            f"`PostgresDb` | Agno {a['agno_version']} `PostgresDb` | ratio |",
            "|---|---:|---:|---:|",
            f"| history on (5 runs), agentic memory, summaries on | "
            f"{ms(ours['median_overhead_ms'])} | {ms(theirs['median_overhead_ms'])} | "
            f"{_x(ratio(ours['median_overhead_ms'], theirs['median_overhead_ms']))} |",
        ]
    lines += ["", result["machine"]]
    return "\n".join(lines) + "\n"


def _x(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}×"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--pg-url", help="a PostgreSQL server of your own (else a throwaway one)")
    parser.add_argument("--locomo", type=Path, default=locomo_memory.DEFAULT_DATA)
    parser.add_argument("--only", help="comma-separated parts of overhead,selection,locomo,agno")
    args = parser.parse_args()
    reps = REPS["quick" if args.quick else "full"]
    started_load = __import__("os").getloadavg()[0]
    parts = set((args.only or "overhead,selection,locomo,agno").split(","))
    big = data.ensure(CACHE, "big", log)
    small = data.ensure(CACHE, "small", log)
    cluster = None if args.pg_url else Cluster().start()
    url = args.pg_url or cluster.url()  # type: ignore[union-attr]
    srv = server.start()
    result: dict = {}
    try:
        with tempfile.TemporaryDirectory(prefix="agentcli-bench-pg-") as tmp:
            setup = Setup(Path(tmp), srv.url, small, {})
            if parts & {"overhead", "selection"}:
                log("loading the big database into PostgreSQL with COPY ...")
                result["load_s"] = load(big, small, url, BIG_SCHEMA)
                result["server_version"] = server_version(url)
                log(f"loaded in {result['load_s']:.0f} s")
                twin = Path(tmp) / "big.db"
                sqlite_twin(big, small, twin)
            if "overhead" in parts:
                log("measuring the overhead per run ...")
                result["overhead"] = overhead(setup, twin, url, reps["sizes"])
            if "selection" in parts:
                log("measuring memory selection ...")
                result["selection"] = selection(setup, twin, url, reps["selection"])
            if "locomo" in parts and args.locomo.is_file():
                log("measuring LoCoMo coverage ...")
                result["locomo"] = locomo(args.locomo, url)
            if "agno" in parts:
                log("measuring against Agno's PostgresDb ...")
                result["agno"] = agno(setup, url, reps["agno"])
    finally:
        srv.stop()
        if cluster is not None:
            cluster.stop()
    import platform

    import psycopg

    result["machine"] = (
        f"{len(__import__('os').sched_getaffinity(0))} CPUs, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, psycopg {psycopg.__version__}, PostgreSQL "
        f"{result.get('server_version', '')}, {'quick' if args.quick else 'full'} "
        f"run ({', '.join(f'{v} {k}' for k, v in reps.items())}), load average "
        f"{started_load:.1f} at the start and {__import__('os').getloadavg()[0]:.1f} at the end"
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "postgres.json").write_text(json.dumps(result, indent=1, default=str) + "\n")
    if "overhead" in result and "selection" in result:
        text = markdown(result)
        (RESULTS / "postgres.md").write_text(text)
        print(text, end="")
    else:
        print(json.dumps({k: v for k, v in result.items()}, indent=1, default=str)[:4000])


if __name__ == "__main__":
    main()
