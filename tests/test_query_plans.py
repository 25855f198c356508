"""Every statement on a run's path uses an index: a run costs the same in any database.

The statements are not listed here: they are the ones the store really
issues while runs happen, from every thread, recorded with their parameters
through the store's tracer, and each is checked with EXPLAIN QUERY PLAN, so
queries added later to the per-run path are checked too.
"""

import re

import pytest
from chat_server import ToolCalls, echo

from agentcli import Agent
from agentcli.services.recall import select_memories

# SQLite only: the statements come from SQLite's trace and are judged by its
# EXPLAIN QUERY PLAN (PostgreSQL's plans are checked in test_postgres_store).
pytestmark = pytest.mark.sqlite_only("SQLite's statement trace and EXPLAIN QUERY PLAN")

# Plan steps that do not read a whole table: virtual tables (FTS5 MATCH),
# subquery results, constant rows.
BOUNDED_SCANS = ("VIRTUAL TABLE", "SCAN (subquery", "SCAN CONSTANT ROW")
# A full-text index probed by rowid ("INDEX 0:=M1"): run once for each row
# of an outer loop, which then walks a whole table or a whole user's rows.
PROBED_FTS = re.compile(r"VIRTUAL TABLE INDEX \d+:\S*=")


def traced(db, action) -> list[tuple[str, object]]:
    """The statements (with parameters) the store ran during ``action``, in any thread."""
    statements: list[tuple[str, object]] = []
    with db.tracer(lambda sql, params: statements.append((sql, params))):
        action()
    return [
        (sql, params)
        for sql, params in statements
        if sql.split()[0].upper() not in ("BEGIN", "COMMIT", "ROLLBACK", "PRAGMA")
    ]


def full_scans(db, statements) -> list[tuple[str, str]]:
    found = []
    for sql, params in dict(reversed(statements)).items():
        plan = [step for *_, step in db.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()]
        # A named subquery's result ("MATERIALIZE best" ... "SCAN best") holds
        # what its own steps, checked here too, selected.
        results = {
            step.split()[1] for step in plan if step.startswith(("MATERIALIZE", "CO-ROUTINE"))
        }
        for step in plan:
            if PROBED_FTS.search(step):
                found.append((step, sql))
            if not step.startswith("SCAN") or any(ok in step for ok in BOUNDED_SCANS):
                continue
            if step.split()[1] not in results:
                found.append((step, sql))
    return found


def busy_model(request):
    """A model that uses every memory tool in a run's first round, and adds a
    memory when asked as the automatic manager; plain text otherwise."""
    if request["messages"][-1]["role"] == "tool" or request.purpose == "summary":
        return echo(request)
    if request.purpose == "memory":
        return ToolCalls([("add_memory", {"memory": "Sarah keeps notes."})])
    n = len(request["messages"])
    return ToolCalls(
        [
            ("add_memory", {"memory": f"Sarah mentioned item {n}.", "topics": ["items"]}),
            ("search_memories", {"query": "garden item"}),
            ("update_memory", {"memory_id": 1, "memory": f"Sarah grows garden plant {n}."}),
            ("delete_memory", {"memory_id": n + 1}),
        ]
    )


def test_every_statement_of_a_run_uses_an_index(db, model, server):
    # More memories than fit the budget, so each run ranks them by relevance.
    facts = [{"memory": f"Sarah planted garden plant number {n} in spring."} for n in range(400)]
    db.import_memories("sarah", facts, actor="user")
    server.default = busy_model
    agent = Agent(
        model=model,
        db=db,
        num_history_runs=2,
        enable_agentic_memory=True,
        update_memory_on_run=True,
        enable_session_summaries=True,
        summary_batch_runs=2,
    )

    def runs():
        for n in range(8):
            agent.run(f"What about the garden plant {n}?", user_id="sarah", session_id="thread-42")
        agent.wait()

    statements = traced(db, runs)
    assert full_scans(db, statements) == []
    # Each part of a run was there to be checked: memory tools, ranked
    # selection, the automatic manager (on its own thread), summary folds.
    seen = " ".join(sql for sql, _ in statements)
    for part in (
        "INSERT INTO memories",
        "UPDATE memories",
        "DELETE FROM memories",
        "memories_fts MATCH",
        "INSERT INTO model_calls",
        "UPDATE sessions SET summary",
        "s.summary_through",
    ):
        assert part in seen, part


def test_the_latest_session_lookup_uses_an_index(db):
    db.ensure_session("sarah", "thread-42")
    statements = traced(db, lambda: db.latest_session("sarah"))
    assert statements and full_scans(db, statements) == []


def test_choosing_among_many_memories_probes_no_index_per_memory(db):
    facts = [{"memory": f"Sarah planted garden plant number {n}."} for n in range(400)]
    db.import_memories("sarah", facts, actor="user")
    statements = traced(db, lambda: select_memories(db, "sarah", "garden plant 7", 100))
    assert "memories_fts MATCH" in " ".join(sql for sql, _ in statements)
    assert full_scans(db, statements) == []


def test_a_full_scan_is_detected(db):
    sql = "SELECT * FROM messages WHERE content = ?"
    assert full_scans(db, [(sql, ("x",))]) == [("SCAN messages", sql)]


def test_a_full_scan_inside_a_subquery_is_detected(db):
    sql = (
        "SELECT r.id FROM (SELECT run_pk FROM messages WHERE content = 'x' ORDER BY id LIMIT 5) "
        "best JOIN runs r ON r.id = best.run_pk"
    )
    assert full_scans(db, [(sql, ())]) == [("SCAN messages", sql)]


def test_a_full_text_index_probed_for_each_row_is_detected(db):
    sql = (
        "SELECT f.rowid FROM memories m JOIN memories_fts f ON f.rowid = m.id "
        "WHERE m.user_id = ? AND memories_fts MATCH ?"
    )
    assert [step for step, _ in full_scans(db, [(sql, ("sarah", '"tea"'))])] == [
        "SCAN f VIRTUAL TABLE INDEX 0:=M2"
    ]
