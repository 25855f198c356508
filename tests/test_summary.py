import re

import pytest
from scripted_model import Fail, Text

from agentcli import Agent
from agentcli.services.summary import Summarizer


def folded(request):
    return re.findall(r"^User: (.*)$", request.messages[1]["content"], re.M)


def history(request):
    return request.pairs()


def bullets(*numbers):
    return "\n".join(f"- m{i}" for i in numbers)


def turns(*numbers):
    out = []
    for i in numbers:
        out += [("user", f"m{i}"), ("assistant", f"echo: m{i}")]
    return out


@pytest.fixture
def warnings():
    return []


@pytest.fixture
def agent(scripted, db, warnings):
    return Agent(
        model=scripted,
        db=db,
        num_history_runs=3,
        enable_session_summaries=True,
        summary_batch_runs=3,
        on_warning=warnings.append,
    )


def chat(agent, numbers, user="u"):
    for i in numbers:
        agent.run(f"m{i}", user_id=user, session_id="s")


def test_run_13_carries_the_summary_and_exactly_the_runs_after_it(agent, scripted):
    chat(agent, range(1, 14))
    request = scripted.calls("chat")[-1]
    assert request.system.endswith("\n\n" + bullets(*range(1, 10)))
    assert history(request) == turns(10, 11, 12) + [("user", "m13")]


def test_the_summary_was_built_from_the_runs_the_model_was_sent(agent, scripted):
    chat(agent, range(1, 13))
    assert [folded(r) for r in scripted.calls("summary")] == [
        ["m1", "m2", "m3"],
        ["m4", "m5", "m6"],
        ["m7", "m8", "m9"],
    ]


def test_a_fold_is_one_streamed_call_without_tools_after_the_reply(agent, scripted):
    chat(agent, range(1, 7))
    assert [r.purpose for r in scripted.requests[-2:]] == ["chat", "summary"]
    [fold] = scripted.calls("summary")
    assert (fold.stream, fold.tools) == (True, None)


def test_a_fold_carries_the_previous_summary_and_only_the_new_runs(agent, scripted):
    chat(agent, range(1, 10))
    second = scripted.calls("summary")[1]
    assert second.messages[1]["content"].startswith(
        "Previous summary:\n" + bullets(1, 2, 3) + "\n\n"
    )
    assert folded(second) == ["m4", "m5", "m6"]


def test_folds_wait_for_a_batch_then_leave_exactly_the_window(agent, scripted):
    chat(agent, range(1, 6))
    assert scripted.calls("summary") == []
    chat(agent, [6, 7])
    assert history(scripted.calls("chat")[-1]) == turns(4, 5, 6) + [("user", "m7")]


def test_a_failing_fold_leaves_the_session_usable_and_folds_later(agent, scripted, db, warnings):
    chat(agent, range(1, 6))
    scripted.script(Fail("no summaries today"), purpose="summary")
    chat(agent, [6, 7])
    assert warnings == ["summary failed: no summaries today"]
    assert history(scripted.calls("chat")[-1]) == turns(*range(1, 7)) + [("user", "m7")]
    assert folded(scripted.calls("summary")[-1]) == ["m1", "m2", "m3", "m4"]
    chat(agent, [8])
    assert history(scripted.calls("chat")[-1]) == turns(5, 6, 7) + [("user", "m8")]
    calls = db.execute("SELECT purpose, status, error FROM model_calls ORDER BY id").fetchall()
    assert calls == [("summary", "error", "no summaries today"), ("summary", "completed", None)]


def test_fold_tokens_are_recorded_against_the_run_that_triggered_it(agent, db):
    chat(agent, range(1, 7))
    sixth = db.execute("SELECT id FROM runs ORDER BY id DESC LIMIT 1").fetchone()[0]
    row = db.execute("SELECT run_pk, status, model, input_tokens, output_tokens FROM model_calls")
    run_pk, status, model, tokens_in, tokens_out = row.fetchone()
    assert (run_pk, status, model) == (sixth, "completed", "test-model")
    assert tokens_in > 0 and tokens_out == len(bullets(1, 2, 3)) // 4


@pytest.mark.parametrize("empty", ["", " \n "], ids=["empty", "blank"])
def test_an_empty_summary_is_a_failed_fold(agent, scripted, db, warnings, empty):
    chat(agent, range(1, 6))
    scripted.script(Text(empty), purpose="summary")
    chat(agent, [6])
    assert warnings == ["summary failed: the model answered with an empty summary"]
    assert db.summary_state(1).summary is None


def test_verbatim_runs_stay_capped_when_every_fold_fails(agent, scripted, warnings):
    scripted.default["summary"] = lambda request: Fail()
    chat(agent, range(1, 13))
    assert history(scripted.calls("chat")[-1]) == turns(*range(3, 12)) + [("user", "m12")]
    assert len(warnings) == 7


def test_switched_on_in_a_long_session_folds_in_bounded_chunks(scripted, db, agent):
    chat(Agent(model=scripted, db=db), range(1, 31))
    chat(agent, [31])
    assert len(history(scripted.calls("chat")[30])) == 2 * 9 + 1
    assert [folded(r) for r in scripted.calls("summary")] == [
        [f"m{i}" for i in range(1, 21)],
        [f"m{i}" for i in range(21, 29)],
    ]


def test_summaries_never_reach_another_users_session(agent, scripted):
    chat(agent, range(1, 7), user="sarah")
    chat(agent, [1], user="bob")
    assert "Summary of the earlier conversation" not in scripted.calls("chat")[-1].system


def test_no_folds_when_history_is_off(scripted, db):
    agent = Agent(
        model=scripted, db=db, add_history_to_context=False, enable_session_summaries=True
    )
    chat(agent, range(1, 12))
    assert scripted.calls("summary") == []


def test_summarize_session_folds_every_completed_run(agent, scripted, db):
    chat(agent, range(1, 5))
    result = agent.summarize_session(user_id="u", session_id="s")
    last = db.execute("SELECT run_id FROM runs ORDER BY id DESC LIMIT 1").fetchone()[0]
    assert (result.summary, result.covers_through_run, result.runs) == (
        bullets(1, 2, 3, 4),
        last,
        4,
    )
    assert agent.get_session_summary(user_id="u", session_id="s") == bullets(1, 2, 3, 4)
    chat(agent, [5])
    assert history(scripted.calls("chat")[-1]) == [("user", "m5")]


def test_summary_model_is_used_for_folds(scripted, db):
    from scripted_model import ScriptedModel

    folder = ScriptedModel("summary-model")
    agent = Agent(
        model=scripted,
        db=db,
        enable_session_summaries=True,
        summary_model=folder,
        num_history_runs=1,
        summary_batch_runs=1,
    )
    chat(agent, [1, 2])
    assert {r.purpose for r in scripted.requests} == {"chat"}
    assert [r.purpose for r in folder.requests] == ["summary"]
    assert db.execute("SELECT model FROM model_calls").fetchall() == [("summary-model",)]


def test_window_reads_the_stored_summary_not_the_stale_session(agent, db):
    stale = db.ensure_session("u", "s")
    run = db.start_run(stale, "m1", "m", "o")
    db.finish_run(run.pk, status="completed")
    assert db.set_summary(stale.pk, "- m1", through_pk=run.pk, expected_through=None)
    assert agent.summarizer.window(stale, 3) == ("- m1", run.pk, 9)


def test_a_concurrent_fold_never_moves_the_summary_backwards(db):
    session = db.ensure_session("u", "s")
    assert db.set_summary(session.pk, "newer", through_pk=7, expected_through=None)
    assert not db.set_summary(session.pk, "older", through_pk=4, expected_through=None)
    assert (db.summary_state(session.pk).summary, db.summary_state(session.pk).through_pk) == (
        "newer",
        7,
    )


def test_a_fold_never_passes_a_run_still_running(db):
    session = db.ensure_session("u", "s")
    pks = [db.start_run(session, f"m{i}", "m", "o").pk for i in range(5)]
    for pk in pks[:2] + pks[3:]:
        db.finish_run(pk, status="completed")
    assert db.runs_to_fold(session.pk, after_pk=None, keep=1, limit=10) == pks[:2]


def test_a_fold_reads_long_messages_cut(scripted, db):
    session = db.ensure_session("u", "s")
    run = db.start_run(session, "x" * 10_000, "m", "o")
    db.finish_run(run.pk, status="completed")
    Summarizer(db, model=scripted, batch_runs=1).summarize("u", "s")
    [fold] = scripted.calls("summary")
    assert "User: " + "x" * 4000 + " […cut]\n" in fold.messages[1]["content"]


@pytest.mark.sqlite_only("reads SQLite's EXPLAIN QUERY PLAN")
def test_fold_queries_use_the_index(db):
    """SQLite only: its query planner's words (PostgreSQL's plans: test_postgres_store)."""
    plan = db.execute(
        "EXPLAIN QUERY PLAN SELECT id FROM runs WHERE session_pk = ? AND status = 'completed' "
        "AND id > ? ORDER BY id DESC LIMIT 1 OFFSET ?",
        (1, 0, 2),
    ).fetchall()
    assert "runs_by_session_status" in " ".join(str(r) for r in plan)
