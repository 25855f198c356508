"""``agentcli serve`` when clients leave, the process is stopped, or work follows a reply."""

import json
import signal
import socket
import time

import httpx
import pytest
from chat_server import ChatServer, Text, ToolCalls
from serving import Served, rows, server_env

STORY = "Once upon a time " * 20  # 340 characters: 85 pieces of 4
SLOW = Text(STORY, chunk=4, delay=0.05)  # about 4 seconds


@pytest.fixture
def model():
    with ChatServer() as srv:
        yield srv


def stored(home):
    return rows(
        home,
        "SELECT r.status, r.error, m.role, m.content FROM runs r "
        "JOIN messages m ON m.run_pk = r.id ORDER BY r.id, m.seq",
    )


def wait_for(check, timeout=15.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("timed out")


def first_text(lines):
    """Read a streamed response's lines until its first piece of reply text."""
    for line in lines:
        if '"text"' in line or '"content":"O' in line:
            return line


def settled(home):
    return wait_for(lambda: (s := stored(home)) and s[0][0] != "running" and s)


@pytest.mark.parametrize(
    "path, body",
    [
        ("/runs", {"user_id": "ann", "message": "tell a story", "stream": True}),
        (
            "/v1/chat/completions",
            {
                "user": "ann",
                "stream": True,
                "messages": [{"role": "user", "content": "tell a story"}],
            },
        ),
    ],
)
def test_a_client_that_leaves_mid_stream_leaves_a_cancelled_run_with_the_partial_text(
    model, tmp_path, path, body
):
    model.script(SLOW)
    with Served(env=server_env(tmp_path, model.url)) as served:
        with served.client() as http, http.stream("POST", path, json=body) as response:
            assert first_text(response.iter_lines())
        # the connection is closed here, mid-reply
        found = settled(tmp_path)
        assert (found[0][:3], found[1][:3]) == (
            ("cancelled", "the client disconnected", "user"),
            ("cancelled", "the client disconnected", "assistant"),
        )
        partial = found[1][3]
        assert STORY.startswith(partial) and 0 < len(partial) < len(STORY)
        assert model.pending() == 0


def test_sigterm_lets_a_reply_under_way_finish_then_exits_0(model, tmp_path):
    model.script(Text(STORY, chunk=40, delay=0.1))  # about 1 second
    served = Served(env=server_env(tmp_path, model.url))
    body = {"user_id": "ann", "message": "story", "stream": True}
    with served.client() as http, http.stream("POST", "/runs", json=body) as response:
        lines = response.iter_lines()
        assert next(lines) == "event: run_started"
        served.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        with pytest.raises(httpx.ConnectError):  # no new connections
            httpx.get(served.url + "/health", timeout=5)
        events = [json.loads(line[6:]) for line in lines if line.startswith("data: ")]
    assert events[-2]["content"] == STORY and events[-2]["status"] == "completed"
    assert served.stop() == 0
    assert [row[0] for row in stored(tmp_path)] == ["completed", "completed"]
    assert served.log[-1] == "agentcli: stopped"


def test_sigterm_interrupts_replies_still_running_after_the_deadline_and_exits_0(model, tmp_path):
    model.script(SLOW)
    served = Served("--shutdown-timeout", "0.5", env=server_env(tmp_path, model.url))
    body = {"user_id": "ann", "message": "story", "stream": True}
    started = time.monotonic()
    with served.client() as http, http.stream("POST", "/runs", json=body) as response:
        lines = response.iter_lines()
        assert first_text(lines)
        served.proc.send_signal(signal.SIGTERM)
        rest = list(lines)
    assert "event: run_cancelled" in rest
    assert served.stop() == 0 and time.monotonic() - started < 4
    found = stored(tmp_path)
    assert [(row[0], row[2]) for row in found] == [
        ("interrupted", "user"),
        ("interrupted", "assistant"),
    ]
    assert found[0][1] == "the server stopped before the reply was complete"
    assert 0 < len(found[1][3]) < len(STORY)


def test_sigterm_with_a_silent_model_still_exits_and_marks_the_run_interrupted(tmp_path):
    from chat_server import Hang

    with ChatServer() as model:
        model.script(Hang(20))
        served = Served("--shutdown-timeout", "0.3", env=server_env(tmp_path, model.url))
        host, port = served.url.removeprefix("http://").split(":")
        sock = socket.create_connection((host, int(port)))
        payload = json.dumps({"user_id": "ann", "message": "hello?"}).encode()
        sock.sendall(
            b"POST /runs HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\n\r\n%s" % (len(payload), payload)
        )
        wait_for(lambda: stored(tmp_path))
        served.proc.send_signal(signal.SIGTERM)
        sock.settimeout(15)
        chunks = []  # headers and body may arrive in separate packets: read to the end
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        sock.close()
        answer = b"".join(chunks).decode()
        assert served.stop(timeout=15) == 0
    assert answer.startswith("HTTP/1.1 503")
    assert "the server stopped before the reply was complete" in answer
    # its worker still waits for the model: the run is marked as its process ends
    assert [(row[0], row[2]) for row in stored(tmp_path)] == [("interrupted", "user")]


def test_memory_updates_and_folds_follow_the_reply_and_stream_after_it(model, tmp_path):
    manager_delay = 1.0

    def slow_manager(request):
        time.sleep(manager_delay)
        return ToolCalls([("add_memory", {"memory": "Ann likes tea.", "topics": []})])

    model.script(
        Text("first reply"),  # run 1
        slow_manager,  # its memory manager call, after the reply
        Text("second reply"),  # run 2
        Text("none"),  # its manager: nothing to change
        Text("Ann talked about tea."),  # the fold of run 1
    )
    env = server_env(tmp_path, model.url, AGENTCLI_SUMMARY_BATCH="1")
    args = ("--memory", "automatic", "--history-runs", "1")
    with Served(*args, env=env) as served, served.client() as http:
        started = time.monotonic()
        reply = http.post("/runs", json={"user_id": "ann", "session_id": "s", "message": "tea"})
        assert reply.json()["content"] == "first reply"
        assert time.monotonic() - started < manager_delay
        wait_for(lambda: http.get("/memories", params={"user_id": "ann"}).json())
        body = {"user_id": "ann", "session_id": "s", "message": "more tea", "stream": True}
        with http.stream("POST", "/runs", json=body) as response:
            names = [line[7:] for line in response.iter_lines() if line.startswith("event: ")]
    assert names[-3:] == ["run_completed", "summary_updated", "follow_up_done"]
    assert rows(tmp_path, "SELECT summary FROM sessions") == [("Ann talked about tea.",)]
    assert rows(tmp_path, "SELECT actor FROM memory_events") == [("manager",)]
