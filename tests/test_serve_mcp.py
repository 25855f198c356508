"""``/mcp`` on ``agentcli serve``: the MCP tools behind the server's token, with the mcp SDK."""

import json
from typing import Any

import anyio
import httpx2
import pytest
from chat_server import ChatServer
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from serving import Served, server_env

TOKEN = "tok-mcp-1618"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    home = tmp_path_factory.mktemp("serve-mcp")
    with ChatServer() as model:
        with Served(env=server_env(home, model.url, AGENTCLI_SERVER_TOKEN=TOKEN)) as srv:
            yield srv


def over_mcp(url: str, headers: dict[str, str], name: str, **arguments: Any) -> Any:
    async def main() -> Any:
        async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
            async with streamable_http_client(url + "/mcp", http_client=http) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    result = await session.call_tool(name, arguments)
                    return json.loads(result.content[0].text)

    return anyio.run(main)


def test_a_memory_remembered_over_mcp_is_in_the_api(served):
    headers = {"Authorization": f"Bearer {TOKEN}", "X-Agentcli-User": "sarah"}
    answer = over_mcp(served.url, headers, "remember", memory="Sarah likes tea.")
    assert answer["message"] == "added memory 1"
    with served.client(TOKEN) as http:
        listed = http.get("/memories", params={"user_id": "sarah"}).json()
    assert [m["memory"] for m in listed] == ["Sarah likes tea."]
    assert any(" /mcp 200 " in line and line.endswith("user=sarah") for line in served.log)


def test_mcp_needs_the_token_too(served):
    ping = b'{"jsonrpc": "2.0", "id": 1, "method": "ping"}'
    answer = httpx2.post(
        served.url + "/mcp", content=ping, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 401
