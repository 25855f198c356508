"""``agentcli models``, aliases, completion of model names and ``/model`` in the REPL."""

import io
import json
import os
import time

import pytest
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from agentcli import slash
from agentcli.config import load_settings
from agentcli.modelnames import CACHE_SECONDS, cache_path, cached_names, write_cache
from agentcli.render import Env
from agentcli.repl import Repl
from agentcli.runtime import build_agent, open_store


@pytest.fixture
def config(agentcli_home):
    def write(text):
        agentcli_home.mkdir(exist_ok=True)
        (agentcli_home / "config.toml").write_text(text)

    return write


def test_models_lists_what_the_endpoint_offers_with_the_default_marked(cli, server, config):
    server.model_ids = ["llama3.2:1b", "qwen2.5:7b"]
    config('model = "fast"\n[aliases]\nfast = "llama3.2:1b"\nbig = "gpt-oss:120b"\n')
    out = cli("models")
    assert (out.exit_code, out.stdout) == (
        0,
        "MODEL           ALIASES  NOTE\n"
        "* llama3.2:1b   fast\n"
        "  qwen2.5:7b\n"
        "  gpt-oss:120b  big      not listed by the server\n",
    )
    assert server.gets == ["/v1/models"]


def test_models_json(cli, server):
    server.model_ids = ["a", "test-model"]
    data = json.loads(cli("models", "--json", env={"AGENTCLI_MODEL": "test-model"}).stdout)
    assert data == {
        "endpoint": server.url,
        "default": "test-model",
        "models": [
            {"id": "a", "default": False, "listed": True, "aliases": [], "owned_by": "tests"},
            {
                "id": "test-model",
                "default": True,
                "listed": True,
                "aliases": [],
                "owned_by": "tests",
            },
        ],
        "aliases": {},
    }


def test_models_errors_are_one_line(cli, server):
    server.stop()
    out = cli("models")
    assert out.exit_code == 1
    assert out.stderr.startswith(f"agentcli: error: listing the models of {server.url} failed: ")
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr


def test_models_without_an_endpoint_says_how_to_set_one(cli):
    out = cli("models")
    assert out.exit_code == 2 and out.stderr.startswith("agentcli: error: ")


def test_an_alias_is_sent_as_the_model_it_names(cli, server, config):
    config('[aliases]\nfast = "llama3.2:1b"\nsmall = "qwen:0.5b"\n')
    cli("chat", "-s", "t", "-m", "fast", "--memory", "automatic", "--memory-model", "small", "hi")
    assert [(r.purpose, r["model"]) for r in server.requests] == [
        ("chat", "llama3.2:1b"),
        ("memory", "qwen:0.5b"),
    ]


def test_an_alias_as_the_configured_model(cli, server, config):
    config('model = "fast"\n[aliases]\nfast = "llama3.2:1b"\n')
    cli("chat", "-s", "t", "hi")
    assert server.requests[0]["model"] == "llama3.2:1b"


def test_aliases_must_name_models(cli, server, config):
    config('[aliases]\nfast = ""\n')
    out = cli("chat", "-s", "t", "hi")
    assert out.exit_code == 2 and "alias 'fast' must name a model" in out.stderr


# -- completion ---------------------------------------------------------------------------
def test_listing_models_keeps_them_for_completion(cli, server, config):
    server.model_ids = ["llama3.2:1b", "qwen2.5:7b"]
    config('[aliases]\nfast = "llama3.2:1b"\n')
    cli("models")
    assert cached_names(server.url) == ["llama3.2:1b", "qwen2.5:7b"]
    asked = len(server.gets)
    out = cli(
        "chat",
        "--model",
        "",
        env={
            "_AGENTCLI_COMPLETE": "complete_bash",
            "COMP_WORDS": "agentcli chat --model ",
            "COMP_CWORD": "3",
        },
    )
    assert out.stdout.split() == ["fast", "llama3.2:1b", "qwen2.5:7b"]
    assert len(server.gets) == asked  # completion asked the server nothing


def test_completion_never_asks_the_server(run_cli, server):
    env = {
        "_AGENTCLI_COMPLETE": "complete_bash",
        "COMP_WORDS": "agentcli chat -m ",
        "COMP_CWORD": "3",
    }
    out = run_cli(env=env)
    assert (out.returncode, out.stdout.split(), server.gets) == (0, [], [])


def test_the_cache_is_short_lived_and_per_endpoint(agentcli_home):
    write_cache("http://a/v1", ["m1"])
    write_cache("http://b/v1/", ["m2"])
    assert (cached_names("http://a/v1"), cached_names("http://b/v1")) == (["m1"], ["m2"])
    data = json.loads(cache_path().read_text())
    data["http://a/v1"]["at"] = time.time() - CACHE_SECONDS - 1
    cache_path().write_text(json.dumps(data))
    assert cached_names("http://a/v1") == []
    assert oct(os.stat(cache_path()).st_mode & 0o777) == "0o600"


def test_chat_keeps_the_model_list_when_it_asks_for_the_context_window(cli, server):
    server.model_ids = ["test-model", "other"]
    cli("chat", "-s", "t", "hi")
    assert "/v1/models" in server.gets
    assert cached_names(server.url) == ["other", "test-model"]


# -- the REPL ------------------------------------------------------------------------------
def typed(repl, keys):
    with create_pipe_input() as pipe:
        pipe.send_text(keys)
        pipe.close()
        repl._input, repl._output = pipe, DummyOutput()
        repl.run()
    return repl.env.stdout.getvalue(), repl.env.stderr.getvalue()


@pytest.fixture
def repl(server, config):
    config('[aliases]\nfast = "llama3.2:1b"\n')
    settings = load_settings(model="test-model", memory="off", context_window=8192)
    db = open_store()
    env = Env(stdin=io.StringIO(), stdout=io.StringIO(), stderr=io.StringIO())
    yield Repl(env, db, build_agent(settings, db), settings, user_id="sarah", session_id="t")
    db.close()


def test_model_command_switches_the_model_for_the_following_runs(repl, server):
    out, err = typed(repl, "one\r/model fast\rtwo\r/model\r/model other\rthree\r/history\r")
    assert [r["model"] for r in server.requests] == ["test-model", "llama3.2:1b", "other"]
    assert "model: llama3.2:1b (alias fast)\nmodel: other\n" in err
    assert "model llama3.2:1b\n" in out
    heads = [line for line in out.splitlines() if line.startswith("assistant · ")]
    assert [h.rsplit(" · ", 1)[1] for h in heads[-3:]] == ["test-model", "llama3.2:1b", "other"]


def test_model_command_completes_aliases_and_cached_names(repl, server):
    write_cache(server.url, ["qwen2.5:7b", "llama3.2:1b"])
    assert [c[0] for c in slash.completions(repl, "/model ")] == [
        "fast",
        "llama3.2:1b",
        "qwen2.5:7b",
    ]
    assert [c[0] for c in slash.completions(repl, "/model q")] == ["qwen2.5:7b"]
    assert server.gets == []
