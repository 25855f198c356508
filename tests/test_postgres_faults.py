"""The PostgreSQL server going away mid-run: a server of the test's own, restarted for real."""

import threading
import time

import pytest
from chat_server import Text

from agentcli import Agent, OpenAIChat
from agentcli.adapters.postgres import PostgresDb
from agentcli.core.errors import StoreError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    """A server this module may stop and restart (never the shared one)."""
    from pg_server import Cluster, bindir

    if bindir() is None:
        pytest.skip("PostgreSQL is not installed: the restart tests start their own server")
    with Cluster() as pg:
        yield pg


@pytest.fixture
def store(cluster):
    db = PostgresDb(db_url=cluster.url(), db_schema="faults", reconnect_wait=30)
    yield db
    db.close()
    cluster.psql("DROP SCHEMA IF EXISTS faults CASCADE")


def test_a_restart_while_the_model_answers_keeps_the_message_and_stores_the_reply(
    cluster, store, server
):
    def restart_then_answer(request):
        cluster.restart(down_for=1.0)  # every connection of the store is dropped
        return Text("still here")

    server.script(restart_then_answer)
    agent = Agent(model=OpenAIChat("m", base_url=server.url), db=store)
    result = agent.run("remember this", user_id="u", session_id="s")
    assert result.content == "still here"
    session = store.require_session("u", "s")
    assert [(m.role, m.content, m.status) for m in store.session_messages(session.pk)] == [
        ("user", "remember this", "completed"),
        ("assistant", "still here", "completed"),
    ]
    assert agent.run("and again", user_id="u", session_id="s").content == "echo: and again"


def test_a_server_down_longer_than_the_wait_fails_the_run_in_one_line(cluster, server):
    db = PostgresDb(db_url=cluster.url(), db_schema="faults", reconnect_wait=2)
    try:

        def stop_then_answer(request):
            cluster.stop_only()
            return Text("lost")

        server.script(stop_then_answer)
        agent = Agent(model=OpenAIChat("m", base_url=server.url), db=db)
        started = time.monotonic()
        with pytest.raises(StoreError) as caught:
            agent.run("my message", user_id="u", session_id="s")
        assert time.monotonic() - started < 30
        message = str(caught.value)
        assert message.startswith(f"lost the connection to PostgreSQL at 127.0.0.1:{cluster.port}")
        assert "gave up" in message and "\n" not in message
        assert "s3cret" not in message
    finally:
        db.close()
        cluster.start_again()
    with PostgresDb(db_url=cluster.url(), db_schema="faults") as after:
        session = after.require_session("u", "s")
        stored = after.session_messages(session.pk)
        assert [(m.role, m.content) for m in stored] == [("user", "my message")]
        assert stored[0].status == "running"  # the sweep of a later run marks it interrupted
    cluster.psql("DROP SCHEMA IF EXISTS faults CASCADE")


def test_reads_and_writes_from_several_threads_survive_a_restart(cluster, store):
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(20):
                _, run = store.begin_run(f"u{n}", "s", f"m{i}", "m", "o")
                store.finish_run(run.pk, status="completed")
                store.list_memories(f"u{n}")
                time.sleep(0.05)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    cluster.restart(down_for=0.5)
    for t in threads:
        t.join()
    assert errors == []
    for n in range(4):
        runs = store.session_runs(store.require_session(f"u{n}", "s").pk)
        assert [r.status for r in runs] == ["completed"] * 20
