"""The native API of the real ``agentcli serve`` through httpx: runs, sessions, memories."""

import json

import pytest
from chat_server import ChatServer, Text, ToolCalls
from serving import Served, rows, server_env

from agentcli import __version__


@pytest.fixture(scope="module")
def model():
    with ChatServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("serve-api")


@pytest.fixture(scope="module")
def served(model, home):
    with Served(env=server_env(home, model.url)) as srv:
        yield srv


@pytest.fixture
def http(served):
    with served.client() as client:
        yield client


def events(response):
    """(name, data) of each Server-Sent Event of a streamed response."""
    out, name = [], None
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            out.append((name, json.loads(line[6:])))
    return out


def count(home, sql, *params):
    return rows(home, sql, params)[0][0]


# -- runs ----------------------------------------------------------------------------
def test_a_run_answers_the_clis_json(http):
    answer = http.post("/runs", json={"user_id": "ann", "session_id": "t1", "message": "hi"})
    run = answer.json()
    assert answer.status_code == 200 and answer.headers["x-agentcli-session"] == "t1"
    assert {k: run[k] for k in ("user_id", "session_id", "content", "status")} == {
        "user_id": "ann",
        "session_id": "t1",
        "content": "echo: hi",
        "status": "completed",
    }
    assert sorted(run) == [
        "content",
        "finish_reason",
        "memories_rejected",
        "memory_changes",
        "model",
        "run_id",
        "session_id",
        "status",
        "usage",
        "user_id",
    ]


def test_a_run_without_a_session_starts_a_new_one(http):
    run = http.post("/runs", json={"user_id": "ann", "message": "new thread"}).json()
    assert len(run["session_id"]) == 12


def test_instructions_are_the_runs_system_prompt(http, model):
    http.post("/runs", json={"user_id": "ann", "message": "x", "instructions": "Be brief."})
    assert model.requests[-1]["messages"][0]["content"].startswith("Be brief.")


def test_a_streamed_run_names_its_events_and_ends_with_the_follow_up(http, model):
    model.script(
        ToolCalls([("add_memory", {"memory": "Bea likes tea.", "topics": ["drinks"]})]),
        Text("Noted."),
    )
    body = {"user_id": "bea", "message": "I like tea", "stream": True}
    with http.stream("POST", "/runs", json=body) as response:
        seen = events(response)
    names = [name for name, _ in seen]
    assert names == [
        "run_started",
        "tool_call",
        "tool_result",
        "content",
        "memory_changed",
        "run_completed",
        "follow_up_done",
    ]
    data = dict(seen)
    assert data["tool_call"]["name"] == "add_memory"
    assert data["memory_changed"] == {"notice": "memory added: Bea likes tea.", "actor": "agent"}
    assert data["run_completed"]["content"] == "Noted."
    assert data["run_completed"]["memory_changes"] == ["memory added: Bea likes tea."]
    assert data["run_started"]["run_id"] == data["run_completed"]["run_id"]


def test_a_model_failure_is_502_and_keeps_the_message(http, model, home):
    from chat_server import Error

    model.script(Error(401, "bad key"))
    answer = http.post("/runs", json={"user_id": "cat", "session_id": "c1", "message": "keep"})
    assert answer.status_code == 502 and answer.headers["x-should-retry"] == "false"
    assert "bad key" in answer.json()["error"]["message"]
    assert rows(
        home,
        "SELECT r.status FROM runs r JOIN sessions s ON s.id = r.session_pk "
        "WHERE s.user_id = 'cat'",
    ) == [("error",)]


# -- sessions ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dan_sessions(served):
    with served.client() as client:
        for session in ("d1", "d2", "d3"):
            client.post("/runs", json={"user_id": "dan", "session_id": session, "message": session})


@pytest.fixture
def dan(dan_sessions, http):
    return http


def test_sessions_list_most_recent_first_with_limit_and_offset(dan):
    listed = dan.get("/sessions", params={"user_id": "dan"}).json()
    assert [s["session_id"] for s in listed] == ["d3", "d2", "d1"]
    assert sorted(listed[0]) == [
        "created_at",
        "name",
        "runs",
        "session_id",
        "updated_at",
        "user_id",
    ]
    page = dan.get("/sessions", params={"user_id": "dan", "limit": 1, "offset": 1}).json()
    assert [s["session_id"] for s in page] == ["d2"]


def test_a_session_shows_its_messages(dan):
    shown = dan.get("/sessions/d1", params={"user_id": "dan"}).json()
    assert [(m["role"], m["content"]) for m in shown["messages"]] == [
        ("user", "d1"),
        ("assistant", "echo: d1"),
    ]
    assert shown["summary"] is None and shown["session_id"] == "d1"


def test_rename_search_and_delete_a_session(dan, home):
    renamed = dan.patch("/sessions/d2", params={"user_id": "dan"}, json={"name": "Second"})
    assert renamed.json()["name"] == "Second"
    hits = dan.get("/sessions/search", params={"user_id": "dan", "q": "d2"}).json()
    assert {(h["session_id"], h["role"]) for h in hits} == {("d2", "user"), ("d2", "assistant")}
    assert dan.delete("/sessions/d2", params={"user_id": "dan"}).json()["name"] == "Second"
    assert dan.get("/sessions/d2", params={"user_id": "dan"}).status_code == 404


def test_summarize_folds_the_session(dan, model):
    model.script(Text("Dan said d3."))
    folded = dan.post("/sessions/d3/summarize", params={"user_id": "dan"}).json()
    assert folded == {
        "user_id": "dan",
        "session_id": "d3",
        "summary": "Dan said d3.",
        "covers_through_run": folded["covers_through_run"],
        "runs": 1,
    }
    assert model.requests[-1]["messages"] != []


def test_another_users_session_is_404_exactly_like_a_missing_one(dan):
    theirs = dan.get("/sessions/d1", params={"user_id": "eve"})
    missing = dan.get("/sessions/nope", params={"user_id": "eve"})
    assert theirs.status_code == missing.status_code == 404
    assert (
        theirs.json()["error"]["message"].replace("d1", "nope")
        == (missing.json()["error"]["message"])
    )
    for call in (
        dan.patch("/sessions/d1", params={"user_id": "eve"}, json={"name": "x"}),
        dan.delete("/sessions/d1", params={"user_id": "eve"}),
        dan.post("/sessions/d1/summarize", params={"user_id": "eve"}),
    ):
        assert call.status_code == 404
    assert dan.get("/sessions/d1", params={"user_id": "dan"}).json()["name"] == "d1"


# -- memories ----------------------------------------------------------------------------------
def test_memories_add_list_search_edit_delete_and_history(http):
    added = http.post(
        "/memories", json={"user_id": "fay", "memory": "Fay  lives in Oslo.", "topics": ["Home"]}
    )
    assert added.status_code == 201
    memory = added.json()
    assert (memory["memory"], memory["topics"]) == ("Fay lives in Oslo.", ["home"])
    again = http.post("/memories", json={"user_id": "fay", "memory": "fay lives in oslo"})
    assert (again.status_code, again.json()["id"]) == (200, memory["id"])
    http.post("/memories", json={"user_id": "fay", "memory": "Fay drinks tea."})
    listed = http.get("/memories", params={"user_id": "fay"}).json()
    assert [m["memory"] for m in listed] == ["Fay lives in Oslo.", "Fay drinks tea."]
    found = http.get("/memories", params={"user_id": "fay", "q": "tea"}).json()
    assert [m["memory"] for m in found] == ["Fay drinks tea."]
    path = f"/memories/{memory['id']}"
    edited = http.patch(path, params={"user_id": "fay"}, json={"memory": "Fay lives in Bergen."})
    assert edited.json()["memory"] == "Fay lives in Bergen."
    assert http.delete(path, params={"user_id": "fay"}).json()["id"] == memory["id"]
    history = http.get(f"{path}/history", params={"user_id": "fay"}).json()
    assert [(e["action"], e["actor"]) for e in history] == [
        ("add", "user"),
        ("update", "user"),
        ("delete", "user"),
    ]


def test_another_users_memory_is_404(http):
    mine = http.post("/memories", json={"user_id": "gil", "memory": "Gil is private."}).json()
    path = f"/memories/{mine['id']}"
    for call in (
        http.patch(path, params={"user_id": "hal"}, json={"memory": "stolen"}),
        http.delete(path, params={"user_id": "hal"}),
        http.get(f"{path}/history", params={"user_id": "hal"}),
    ):
        assert call.status_code == 404 and call.json()["error"]["type"] == "not_found_error"
    assert http.get("/memories", params={"user_id": "hal"}).json() == []
    assert http.get("/memories", params={"user_id": "gil"}).json()[0]["memory"] == "Gil is private."


# -- health and the OpenAPI document -------------------------------------------------------
def test_health(http):
    assert http.get("/health").json() == {
        "status": "ok",
        "version": __version__,
        "backend": "sqlite",
    }


def test_the_openapi_document_lists_every_route(http):
    paths = http.get("/openapi.json").json()["paths"]
    listed = {(method.upper(), path) for path, item in paths.items() for method in item}
    assert listed == {
        ("POST", "/v1/chat/completions"),
        ("GET", "/v1/models"),
        ("POST", "/runs"),
        ("GET", "/sessions"),
        ("GET", "/sessions/search"),
        ("GET", "/sessions/{session_id}"),
        ("PATCH", "/sessions/{session_id}"),
        ("DELETE", "/sessions/{session_id}"),
        ("POST", "/sessions/{session_id}/summarize"),
        ("GET", "/memories"),
        ("POST", "/memories"),
        ("PATCH", "/memories/{memory_id}"),
        ("DELETE", "/memories/{memory_id}"),
        ("GET", "/memories/{memory_id}/history"),
        ("GET", "/health"),
    }
    assert http.get("/docs").status_code == 200


# -- refused requests store nothing ------------------------------------------------------------
BIG = 4 * 1024 * 1024 + 1


@pytest.mark.parametrize(
    "method, path, kwargs, status, message",
    [
        (
            "POST",
            "/runs",
            {"content": b"{bad", "headers": {"content-type": "application/json"}},
            400,
            "not valid JSON",
        ),
        ("POST", "/runs", {"content": b"x=1"}, 400, "must be a JSON object"),
        ("POST", "/runs", {}, 400, "body is required"),
        ("POST", "/runs", {"json": {"user_id": "zed"}}, 422, "message: Field required"),
        ("POST", "/runs", {"json": {"message": "hi"}}, 422, "user_id is required"),
        ("POST", "/runs", {"json": {"user_id": "zed", "message": "  "}}, 400, "message is empty"),
        ("POST", "/runs", {"json": {"user_id": "zed", "message": 5}}, 422, "message: "),
        (
            "POST",
            "/runs",
            {"json": {"user_id": "zed", "message": "x", "colour": 1}},
            422,
            "colour: Extra inputs",
        ),
        ("POST", "/runs", {"json": {"user_id": "z" * 513, "message": "x"}}, 422, "longer than"),
        (
            "POST",
            "/runs",
            {"json": {"user_id": "zed", "session_id": " ", "message": "x"}},
            422,
            "session_id must not be empty",
        ),
        ("POST", "/runs", {"content": b"{" + b" " * BIG + b"}"}, 413, "larger than 4 MB"),
        ("POST", "/memories", {"json": {"user_id": "zed", "memory": ""}}, 400, "must not be empty"),
        (
            "POST",
            "/memories",
            {"json": {"user_id": "zed", "memory": "x", "topics": "t"}},
            422,
            "topics: ",
        ),
        ("GET", "/sessions", {"params": {"user_id": "zed", "limit": 0}}, 422, "limit: "),
        ("GET", "/sessions/d1", {"params": {"user_id": "dan", "last": 2**70}}, 422, "last: "),
        ("GET", "/sessions", {}, 422, "user_id is required"),
        ("GET", "/sessions/search", {"params": {"user_id": "zed"}}, 422, "q: Field required"),
        ("GET", "/memories/abc/history", {"params": {"user_id": "zed"}}, 422, "memory_id: "),
        (
            "PATCH",
            "/memories/1",
            {"params": {"user_id": "zed"}, "json": {}},
            422,
            "give memory, topics or both",
        ),
        (
            "PATCH",
            "/sessions/s",
            {"params": {"user_id": "zed"}, "json": {"name": ""}},
            422,
            "name: ",
        ),
        ("GET", "/nowhere", {}, 404, "no such route"),
        ("DELETE", "/runs", {}, 405, "method not allowed"),
    ],
)
def test_bad_input_is_refused_in_one_shape_and_stores_nothing(
    http, home, method, path, kwargs, status, message
):
    answer = http.request(method, path, **kwargs)
    error = answer.json()["error"]
    assert (answer.status_code, sorted(error)) == (status, ["code", "message", "type"])
    assert message in error["message"]
    assert count(home, "SELECT count(*) FROM sessions WHERE user_id LIKE 'z%'") == 0
    assert count(home, "SELECT count(*) FROM memories WHERE user_id = 'zed'") == 0


def test_a_chunked_body_over_the_limit_is_413(http):
    def chunks():
        for _ in range(5):
            yield b"x" * (1024 * 1024)

    assert http.post("/runs", content=chunks()).status_code == 413
