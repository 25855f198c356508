import re

import pytest
from chat_server import Error, Text, echo

from agentcli import Agent
from agentcli.services.summary import FOLD_INSTRUCTIONS, Summarizer


def summarizing(request):
    """The scripted model: chats are echoed; a fold answers with one bullet per user
    message of the previous summary and of the turns it was sent."""
    if not is_fold(request):
        return echo(request)
    previous, turns = request["messages"][1]["content"].split("Conversation turns")
    said = re.findall(r"^- (.*)$", previous, re.M) + re.findall(r"^User: (.*)$", turns, re.M)
    return Text("\n".join(f"- {m}" for m in said))


def is_fold(request):
    return request["messages"][0]["content"] == FOLD_INSTRUCTIONS


def folds(server):
    return [r for r in server.requests if is_fold(r)]


def folded(request):
    return re.findall(r"^User: (.*)$", request["messages"][1]["content"], re.M)


def history(request):
    return [(m["role"], m["content"]) for m in request["messages"][1:]]


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
def agent(model, db, server, warnings):
    server.default = summarizing
    return Agent(
        model=model,
        db=db,
        num_history_runs=3,
        enable_session_summaries=True,
        summary_batch_runs=3,
        on_warning=warnings.append,
    )


def chat(agent, numbers, user="u"):
    for i in numbers:
        agent.run(f"m{i}", user_id=user, session_id="s")


def test_run_13_carries_the_summary_and_exactly_the_runs_after_it(agent, server):
    chat(agent, range(1, 14))
    request = server.requests[-1]
    assert request["messages"][0]["content"].endswith("\n\n" + bullets(*range(1, 10)))
    assert history(request) == turns(10, 11, 12) + [("user", "m13")]


def test_the_summary_was_built_from_the_runs_the_model_was_sent(agent, server):
    chat(agent, range(1, 13))
    assert [folded(r) for r in folds(server)] == [
        ["m1", "m2", "m3"],
        ["m4", "m5", "m6"],
        ["m7", "m8", "m9"],
    ]


def test_a_fold_carries_the_previous_summary_and_only_the_new_runs(agent, server):
    chat(agent, range(1, 10))
    prompt = folds(server)[1]["messages"][1]["content"]
    assert prompt.startswith("Previous summary:\n" + bullets(1, 2, 3) + "\n\n")
    assert folded(folds(server)[1]) == ["m4", "m5", "m6"]


def test_folds_wait_for_a_batch_then_leave_exactly_the_window(agent, server):
    chat(agent, range(1, 6))
    assert folds(server) == []
    chat(agent, [6, 7])
    assert history(server.requests[-1]) == turns(4, 5, 6) + [("user", "m7")]


def test_a_failing_fold_leaves_the_session_usable_and_folds_later(agent, server, db, warnings):
    chat(agent, range(1, 6))
    server.script(summarizing, Error(400, "no summaries today"))
    chat(agent, [6, 7])
    assert len(warnings) == 1 and warnings[0].startswith("summary failed: model call to")
    assert history(server.requests[-2]) == turns(*range(1, 7)) + [("user", "m7")]
    assert folded(server.requests[-1]) == ["m1", "m2", "m3", "m4"]
    chat(agent, [8])
    assert history(server.requests[-1]) == turns(5, 6, 7) + [("user", "m8")]
    calls = db.execute("SELECT purpose, status FROM model_calls ORDER BY id").fetchall()
    assert calls == [("summary", "error"), ("summary", "completed")]


def test_fold_tokens_are_recorded_against_the_run_that_triggered_it(agent, server, db):
    chat(agent, range(1, 7))
    sixth = db.execute("SELECT id FROM runs ORDER BY id DESC LIMIT 1").fetchone()[0]
    row = db.execute("SELECT run_pk, status, model, input_tokens, output_tokens FROM model_calls")
    run_pk, status, model, tokens_in, tokens_out = row.fetchone()
    assert (run_pk, status, model) == (sixth, "completed", "test-model")
    assert tokens_in > 0 and tokens_out == len(bullets(1, 2, 3)) // 4


def test_an_empty_summary_is_a_failed_fold(agent, server, db, warnings):
    chat(agent, range(1, 6))
    server.script(summarizing, Text(""))
    chat(agent, [6])
    assert warnings == ["summary failed: the model answered with an empty summary"]
    assert db.summary_state(1).summary is None


def test_verbatim_runs_stay_capped_when_every_fold_fails(agent, server, warnings):
    server.default = lambda r: Error(400) if is_fold(r) else echo(r)
    chat(agent, range(1, 13))
    assert history(server.requests[-2]) == turns(*range(3, 12)) + [("user", "m12")]
    assert len(warnings) == 7


def test_switched_on_in_a_long_session_folds_in_bounded_chunks(model, db, server, agent):
    chat(Agent(model=model, db=db), range(1, 31))
    chat(agent, [31])
    assert len(history(server.requests[30])) == 2 * 9 + 1
    assert [folded(r) for r in folds(server)] == [
        [f"m{i}" for i in range(1, 21)],
        [f"m{i}" for i in range(21, 29)],
    ]


def test_summaries_never_reach_another_users_session(agent, server):
    chat(agent, range(1, 7), user="sarah")
    chat(agent, [1], user="bob")
    assert (
        "Summary of the earlier conversation" not in server.requests[-1]["messages"][0]["content"]
    )


def test_no_folds_when_history_is_off(model, db, server):
    agent = Agent(model=model, db=db, add_history_to_context=False, enable_session_summaries=True)
    server.default = summarizing
    chat(agent, range(1, 12))
    assert folds(server) == []


def test_summarize_session_folds_every_completed_run(agent, server, db):
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
    assert history(server.requests[-1]) == [("user", "m5")]


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


def test_a_fold_reads_long_messages_cut(model, db, server):
    server.default = summarizing
    session = db.ensure_session("u", "s")
    run = db.start_run(session, "x" * 10_000, "m", "o")
    db.finish_run(run.pk, status="completed")
    Summarizer(db, model=model, batch_runs=1).summarize("u", "s")
    assert "User: " + "x" * 4000 + " […cut]\n" in folds(server)[0]["messages"][1]["content"]


def test_fold_queries_use_the_index(db):
    plan = db.execute(
        "EXPLAIN QUERY PLAN SELECT id FROM runs WHERE session_pk = ? AND status = 'completed' "
        "AND id > ? ORDER BY id DESC LIMIT 1 OFFSET ?",
        (1, 0, 2),
    ).fetchall()
    assert "runs_by_session_status" in " ".join(str(r) for r in plan)
