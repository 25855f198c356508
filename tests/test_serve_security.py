"""Who may use ``agentcli serve``: the bearer token, the one-user binding, the bind address."""

import subprocess

import openai
import pytest
from chat_server import ChatServer
from serving import AGENTCLI, Served, rows, server_env

TOKEN = "tok-3141-secret"
API_KEY = "sk-never-shown-2718"


@pytest.fixture(scope="module")
def model():
    with ChatServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("serve-security")


@pytest.fixture(scope="module")
def guarded(model, home):
    env = server_env(home, model.url, AGENTCLI_SERVER_TOKEN=TOKEN, OPENAI_API_KEY=API_KEY)
    with Served(env=env) as srv:
        yield srv


@pytest.fixture(scope="module")
def personal(model, tmp_path_factory):
    home = tmp_path_factory.mktemp("serve-personal")
    with Served("--user", "sarah", env=server_env(home, model.url)) as srv:
        yield srv


# -- the token ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "headers",
    [{}, {"authorization": "Bearer wrong"}, {"authorization": TOKEN}, {"authorization": "Basic x"}],
)
def test_without_the_right_token_every_route_is_401(guarded, headers):
    with guarded.client() as http:
        for method, path in [
            ("POST", "/runs"),
            ("GET", "/sessions"),
            ("GET", "/nowhere"),
            ("GET", "/openapi.json"),
            ("POST", "/v1/chat/completions"),
        ]:
            answer = http.request(method, path, headers=headers, json={})
            assert answer.status_code == 401, path
            assert answer.headers["www-authenticate"] == "Bearer"
            assert answer.json()["error"]["code"] == "invalid_token"


def test_with_the_token_requests_pass_and_health_needs_none(guarded, home):
    with guarded.client(TOKEN) as http:
        run = http.post("/runs", json={"user_id": "ann", "message": "hello"})
        assert run.status_code == 200
    with guarded.client() as http:
        assert http.get("/health").json()["status"] == "ok"


def test_the_openai_sdk_sends_the_token_as_its_api_key(guarded):
    with openai.OpenAI(base_url=guarded.url + "/v1", api_key=TOKEN) as sdk:
        assert sdk.models.list().data[0].id == "gpt-4o-mini"
    with openai.OpenAI(base_url=guarded.url + "/v1", api_key="wrong") as sdk:
        with pytest.raises(openai.AuthenticationError):
            sdk.models.list()


def test_the_log_has_one_line_per_request_and_no_secret_or_text(guarded, model):
    from chat_server import Error

    with guarded.client(TOKEN) as http:
        before = len(guarded.requests_logged())
        http.post("/runs", json={"user_id": "bob", "message": "my PIN is 4455"})
        http.get("/sessions/search", params={"user_id": "bob", "q": "PIN 4455"})
        model.script(Error(400, "bad request"))
        http.post("/runs", json={"user_id": "bob", "message": "my PIN is 4455 again"})
    lines = guarded.requests_logged()[before:]
    assert [line.split()[1:4] for line in lines] == [
        ["POST", "/runs", "200"],
        ["GET", "/sessions/search", "200"],
        ["POST", "/runs", "502"],
    ]
    assert all(line.endswith("user=bob") for line in lines)
    log = "\n".join(guarded.log)
    assert "4455" not in log and TOKEN not in log and API_KEY not in log
    assert all(API_KEY not in str(value) for value in model.requests[-1].values())


# -- one user --------------------------------------------------------------------------------
def test_a_personal_server_refuses_other_users_with_403(personal):
    with personal.client() as http:
        for answer in (
            http.post("/runs", json={"user_id": "bob", "message": "hi"}),
            http.get("/sessions", params={"user_id": "bob"}),
            http.post("/memories", json={"user_id": "bob", "memory": "x"}),
            http.post(
                "/v1/chat/completions",
                json={"user": "bob", "messages": [{"role": "user", "content": "hi"}]},
            ),
        ):
            assert answer.status_code == 403
            assert answer.json()["error"]["type"] == "permission_error"


def test_a_personal_server_acts_for_its_user_when_none_is_named(personal):
    with personal.client() as http:
        run = http.post("/runs", json={"message": "hi"}).json()
        assert run["user_id"] == "sarah"
        named = http.get("/sessions", params={"user_id": "sarah"}).json()
        assert [s["session_id"] for s in http.get("/sessions").json()] == [
            s["session_id"] for s in named
        ]
    with openai.OpenAI(base_url=personal.url + "/v1", api_key="unused") as sdk:
        reply = sdk.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "no user field"}]
        )
        assert reply.choices[0].message.content == "echo: no user field"


# -- the address ------------------------------------------------------------------------------
@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.7"])
def test_listening_beyond_loopback_without_a_token_is_refused(host, tmp_path):
    done = subprocess.run(
        [AGENTCLI, "serve", "--host", host, "--port", "0"],
        env=server_env(tmp_path, "http://127.0.0.1:9/v1"),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        f"agentcli: error: refusing to listen on {host} without a token: set --token or "
        "AGENTCLI_SERVER_TOKEN, or listen on 127.0.0.1\n"
    )
    assert not (tmp_path / "agentcli.db").exists()


def test_without_a_model_endpoint_the_server_does_not_start(tmp_path):
    env = server_env(tmp_path, "")
    del env["OPENAI_BASE_URL"]
    done = subprocess.run(
        [AGENTCLI, "serve", "--port", "0"], env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2 and done.stderr.startswith("agentcli: error: no model endpoint")


def test_rows_helper_sees_the_guarded_servers_runs(guarded, home):
    assert rows(home, "SELECT count(*) FROM sessions WHERE user_id = 'ann'") == [(1,)]
