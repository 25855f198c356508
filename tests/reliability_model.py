"""The scripted model of the reliability tests: chats, the memory manager and folds.

``ScriptedModel(memory=manager)`` in process, or ``server.default = scripted``
(or script it as a step) over HTTP. Every answer is derived from the request,
so a test can tell from a stored row which request made it:

- a chat is echoed: ``echo: MESSAGE``;
- the automatic memory manager adds one memory per run, ``User said MESSAGE.``,
  and rewrites the user's ``Latest note: ...`` memory, when it was shown one,
  to ``Latest note: MESSAGE.``;
- a fold answers with one bullet per user message: the previous summary's
  bullets, then the user messages of the runs it was sent.

A call's kind is its ``purpose`` ("chat", "memory", "summary"), as the
services gave it (over HTTP: the ``X-Agentcli-Purpose`` header).
"""

from __future__ import annotations

import re
from typing import Any

from scripted_model import Request, Text, ToolCalls, echo, fold

LATEST = "Latest note: "
_LISTED = re.compile(r"^- \[(\d+)\] (.*)$", re.M)


def turn(request: Request) -> str:
    """The user message a manager call is about."""
    found = re.search(r"<user>\n(.*?)\n</user>", request.messages[1]["content"], re.S)
    assert found, "a manager call shows the conversation turn"
    return found[1]


def listed(request: Request) -> dict[int, str]:
    """The memories (id -> text) a manager call or an agentic chat was shown."""
    text = "\n".join(m["content"] or "" for m in request.messages if m["role"] == "system")
    text += "\n" + (request.messages[1]["content"] if request.purpose == "memory" else "")
    return {int(i): memory for i, memory in _LISTED.findall(text)}


def manager(request: Request) -> Text | ToolCalls:
    if request.messages[-1]["role"] == "tool":
        return Text("none")  # a second round: nothing more to do
    said = turn(request)
    calls: list[tuple[str, Any]] = [("add_memory", {"memory": f"User said {said}."})]
    for memory_id, text in listed(request).items():
        if text.startswith(LATEST):
            calls.append(("update_memory", {"memory_id": memory_id, "memory": f"{LATEST}{said}."}))
    return ToolCalls(calls)


def scripted(request: Request) -> Any:
    """For the HTTP server: the answer by the request's purpose."""
    return {"memory": manager, "summary": fold}.get(request.purpose, echo)(request)


def summary_lines(request: Request) -> list[str]:
    """The summary bullets in a chat request's system prompt."""
    system = request.messages[0]["content"]
    if "## Summary of the earlier conversation" not in system:
        return []
    part = system.split("## Summary of the earlier conversation", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^- (.*)$", part, re.M)


def history_users(request: Request) -> list[str]:
    """The user messages a chat request carries verbatim (the last one is the new one)."""
    return [m["content"] for m in request.messages if m["role"] == "user"]


def memory_lines(request: Request) -> list[str]:
    """The memories listed in a chat request's system prompt (without ids)."""
    system = request.messages[0]["content"]
    if "## What you know about the user" not in system:
        return []
    part = system.split("## What you know about the user", 1)[1].split("\n## ", 1)[0]
    return [re.sub(r"^\[\d+\] ", "", line) for line in re.findall(r"^- (.*)$", part, re.M)]
