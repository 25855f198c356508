"""Every statement on a run's path uses an index: a run costs the same in any database.

The statements are not listed here: they are recorded while runs happen
(SQLite's trace, values expanded) and each is checked with EXPLAIN QUERY
PLAN, so queries added later to the per-run path are checked too.
"""

from agentcli import Agent

# Plan steps that do not read a whole table: virtual tables (FTS5 MATCH),
# subquery results, constant rows.
BOUNDED_SCANS = ("VIRTUAL TABLE", "SCAN (subquery", "SCAN CONSTANT ROW")


def traced(db, action) -> list[str]:
    statements: list[str] = []
    db.conn.set_trace_callback(statements.append)
    try:
        action()
    finally:
        db.conn.set_trace_callback(None)
    return [
        s
        for s in statements
        # trigger bodies and FTS5's own statements on its shadow tables are not ours
        if not s.startswith("--") and "'main'." not in s
        and s.split()[0].upper() not in ("BEGIN", "COMMIT", "ROLLBACK", "PRAGMA")
    ]  # fmt: skip


def full_scans(db, statements: list[str]) -> list[tuple[str, str]]:
    found = []
    for sql in dict.fromkeys(statements):
        for *_, step in db.execute("EXPLAIN QUERY PLAN " + sql).fetchall():
            if step.startswith("SCAN") and not any(ok in step for ok in BOUNDED_SCANS):
                found.append((step, sql))
    return found


def test_every_statement_of_a_run_uses_an_index(db, model):
    agent = Agent(
        model=model,
        db=db,
        num_history_runs=2,
        enable_agentic_memory=True,
        enable_session_summaries=True,
        summary_batch_runs=2,
    )

    def runs():
        for n in range(8):
            agent.run(f"message {n}", user_id="sarah", session_id="thread-42")

    statements = traced(db, runs)
    assert len(statements) > 8 * 5
    assert full_scans(db, statements) == []


def test_the_latest_session_lookup_uses_an_index(db):
    db.ensure_session("sarah", "thread-42")
    statements = traced(db, lambda: db.latest_session("sarah"))
    assert statements and full_scans(db, statements) == []


def test_a_full_scan_is_detected(db):
    assert full_scans(db, ["SELECT * FROM messages WHERE content = 'x'"]) == [
        ("SCAN messages", "SELECT * FROM messages WHERE content = 'x'")
    ]
