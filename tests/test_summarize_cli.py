import json
import re
import sqlite3

import pytest
from chat_server import Error, Text, echo


def summarizing(request):
    """Chats are echoed; a fold answers with one bullet per user message it was sent."""
    if request.purpose != "summary":
        return echo(request)
    said = re.findall(r"^(?:- |User: )(.*)$", request["messages"][1]["content"], re.M)
    return Text("\n".join(f"- {m}" for m in said))


def folds(server):
    return [r for r in server.requests if r.purpose == "summary"]


def run_ids(home):
    conn = sqlite3.connect(home / "agentcli.db")
    try:
        return [r[0] for r in conn.execute("SELECT run_id FROM runs ORDER BY id")]
    finally:
        conn.close()


@pytest.fixture
def talked(cli, server):
    """Session ``t`` of user ``tester`` with two completed runs."""
    server.default = summarizing
    for text in ("one", "two"):
        assert cli("chat", "-s", "t", text).exit_code == 0
    return server


def test_summarize_a_fresh_session_prints_and_stores_it(cli, talked, agentcli_home):
    out = cli("summarize", "-s", "t")
    assert (out.exit_code, out.stdout) == (0, "- one\n- two\n")
    assert out.stderr == f"covers 2 runs, through run {run_ids(agentcli_home)[1]}\n"
    assert len(folds(talked)) == 1


def test_summarize_json(cli, talked, agentcli_home):
    result = cli("summarize", "--user", "tester", "--session", "t", "--json")
    assert json.loads(result.stdout) == {
        "user_id": "tester",
        "session_id": "t",
        "summary": "- one\n- two",
        "covers_through_run": run_ids(agentcli_home)[1],
        "runs": 2,
    }


def test_summarize_again_folds_only_the_new_runs(cli, talked):
    cli("summarize", "-s", "t")
    cli("chat", "-s", "t", "three")
    assert json.loads(cli("summarize", "-s", "t", "--json").stdout)["runs"] == 3
    assert folds(talked)[-1]["messages"][1]["content"].startswith(
        "Previous summary:\n- one\n- two\n\n"
    )
    assert re.findall(r"^User: (.*)$", folds(talked)[-1]["messages"][1]["content"], re.M) == [
        "three"
    ]


def test_the_model_flag_names_the_folds_model(cli, talked):
    assert cli("summarize", "-s", "t", "-m", "fold-model").exit_code == 0
    assert [r["model"] for r in folds(talked)] == ["fold-model"]


def test_show_prints_the_stored_summary_and_calls_no_model(cli, talked):
    cli("summarize", "-s", "t")
    talked.requests.clear()
    out = cli("summarize", "-s", "t", "--show")
    assert (out.exit_code, out.stdout) == (0, "- one\n- two\n")
    assert talked.requests == []


def test_show_without_a_summary(cli, talked):
    result = cli("summarize", "-s", "t", "--show")
    assert (result.exit_code, result.stdout) == (0, "")
    assert result.stderr == (
        "session 't' has no summary yet; make one with: agentcli summarize -s t -u tester\n"
    )
    assert len(talked.requests) == 2


def test_the_show_hint_quotes_ids_for_the_shell(cli, server):
    cli("chat", "-u", "o'neil", "-s", "my thread", "hi")
    out = cli("summarize", "my thread", "-u", "o'neil", "--show")
    assert out.stderr.endswith(
        "make one with: agentcli summarize -s 'my thread' -u 'o'\"'\"'neil'\n"
    )


def test_the_session_may_be_given_as_an_argument(cli, talked):
    out = cli("summarize", "t")
    assert (out.exit_code, out.stdout) == (0, "- one\n- two\n")
    assert out.stderr.startswith("covers 2 runs, through run ")
    assert cli("summarize", "t", "-s", "t", "--show").stdout == "- one\n- two\n"


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ((), "missing the session id: give it as an argument or with --session"),
        (("t", "-s", "u"), "give the session id once: as an argument or with --session"),
    ],
)
def test_the_session_is_needed_once(cli, talked, args, error):
    out = cli("summarize", *args)
    assert (out.exit_code, out.stderr) == (2, f"agentcli: error: {error}\n")


def test_one_run_is_one_run(cli, server):
    server.default = summarizing
    cli("chat", "-s", "one", "hello")
    assert cli("summarize", "one").stderr.startswith("covers 1 run, through run ")


def test_unknown_session_is_one_line_and_exit_1(cli, server):
    out = cli("summarize", "-s", "nope")
    assert (out.exit_code, out.stderr) == (
        1,
        "agentcli: error: no session 'nope' for user 'tester'\n",
    )
    assert server.requests == []


def test_session_without_completed_runs(cli, server):
    server.script(Error(400))
    cli("chat", "-s", "t", "lost")
    result = cli("summarize", "-s", "t")
    assert (result.exit_code, result.stdout) == (0, "")
    assert result.stderr == "session 't' has no completed runs to summarize\n"
    assert len(server.requests) == 1


def test_chat_folds_by_default_with_the_configured_batch(cli, server, monkeypatch):
    server.default = summarizing
    monkeypatch.setenv("AGENTCLI_SUMMARY_BATCH", "2")
    for text in ("a", "b", "c"):
        cli("chat", "-s", "t", "--history-runs", "1", text)
    assert [r["messages"][1]["content"].count("User: ") for r in folds(server)] == [2]


def test_chat_no_summaries(cli, server, monkeypatch):
    server.default = summarizing
    monkeypatch.setenv("AGENTCLI_SUMMARY_BATCH", "1")
    for text in ("a", "b", "c"):
        cli("chat", "-s", "t", "--history-runs", "1", "--no-summaries", text)
    assert folds(server) == []
