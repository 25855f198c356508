"""32 streaming clients at once, 5 runs each, 8 users, some sessions shared."""

import re
import time
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest
from chat_server import ChatServer
from serving import Served, rows, server_env

CLIENTS, RUNS, USERS = 32, 5, 8
PATTERN = re.compile(r"^u(\d) c(\d+) r(\d)$")


def session_of(client: int) -> str:
    # Clients 0-15 each have a session; 16-31 share one per user, two clients each.
    return f"own-{client}" if client < 16 else f"shared-{client % USERS}"


def via_sdk(url: str, client: int) -> list[str]:
    user = f"u{client % USERS}"
    replies = []
    with openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0) as sdk:
        for run in range(RUNS):
            stream = sdk.chat.completions.create(
                model="m",
                user=user,
                stream=True,
                messages=[{"role": "user", "content": f"{user} c{client} r{run}"}],
                extra_headers={"X-Agentcli-Session": session_of(client)},
            )
            replies.append("".join(c.choices[0].delta.content or "" for c in stream if c.choices))
    return replies


def via_api(served: Served, client: int) -> list[str]:
    user = f"u{client % USERS}"
    replies = []
    with served.client() as http:
        for run in range(RUNS):
            body = {
                "user_id": user,
                "session_id": session_of(client),
                "message": f"{user} c{client} r{run}",
                "stream": True,
            }
            with http.stream("POST", "/runs", json=body) as response:
                text = [line for line in response.iter_lines() if line.startswith('data: {"text"')]
            replies.append("".join(line[len('data: {"text":"') : -2] for line in text))
    return replies


@pytest.mark.slow
def test_concurrent_streaming_clients_each_get_their_own_runs_and_memories(tmp_path):
    with ChatServer() as model, Served(env=server_env(tmp_path, model.url)) as served:
        with served.client() as http:
            for n in range(USERS):
                http.post("/memories", json={"user_id": f"u{n}", "memory": f"Secret word W{n}x."})
        started = time.monotonic()
        with ThreadPoolExecutor(CLIENTS) as pool:
            jobs = [
                pool.submit(via_sdk if c % 2 else via_api, served.url if c % 2 else served, c)
                for c in range(CLIENTS)
            ]
            replies = [job.result(timeout=300) for job in jobs]
        elapsed = time.monotonic() - started
        requests = list(model.requests)
    for client, texts in enumerate(replies):
        user = f"u{client % USERS}"
        assert texts == [f"echo: {user} c{client} r{run}" for run in range(RUNS)]
    assert elapsed < 120
    # Every run stored once, completed, and each client's runs in its order.
    stored = rows(
        tmp_path,
        "SELECT s.user_id, s.session_id, r.status, m.content FROM runs r "
        "JOIN sessions s ON s.id = r.session_pk "
        "JOIN messages m ON m.run_pk = r.id AND m.seq = 0 ORDER BY r.id",
    )
    assert len(stored) == CLIENTS * RUNS and {row[2] for row in stored} == {"completed"}
    for client in range(CLIENTS):
        user = f"u{client % USERS}"
        mine = [row for row in stored if f" c{client} " in row[3]]
        assert [row[3] for row in mine] == [f"{user} c{client} r{run}" for run in range(RUNS)]
        assert {(row[0], row[1]) for row in mine} == {(user, session_of(client))}
    # Each model request carried its own user's memory and no other user's.
    chats = 0
    for request in requests:
        last = request["messages"][-1]["content"]
        match = PATTERN.match(last or "")
        if match is None:
            continue  # a summary fold
        chats += 1
        words = set(
            re.findall(r"W(\d)x", " ".join(m["content"] or "" for m in request["messages"]))
        )
        assert words == {match.group(1)}, last
    assert chats == CLIENTS * RUNS
