"""The scripted model of the reliability tests: chats, the memory manager and folds.

Set ``server.default = scripted`` (or script it as a step). Every answer is
derived from the request, so a test can tell from a stored row which request
made it:

- a chat is echoed: ``echo: MESSAGE``;
- the automatic memory manager adds one memory per run, ``Fact from MESSAGE.``,
  and rewrites the user's ``Latest note: ...`` memory, when it was shown one,
  to ``Latest note: MESSAGE.``;
- a fold answers with one bullet per user message: the previous summary's
  bullets, then the user messages of the runs it was sent.
"""

from __future__ import annotations

import re
from typing import Any

from chat_server import Text, ToolCalls, echo

from agentcli.services.memory import MANAGER_PROMPT
from agentcli.services.summary import FOLD_INSTRUCTIONS

LATEST = "Latest note: "
_LISTED = re.compile(r"^- \[(\d+)\] (.*)$", re.M)


def kind(request: dict[str, Any]) -> str:
    """ "chat", "manager" or "fold"."""
    system = request["messages"][0]["content"]
    return {MANAGER_PROMPT: "manager", FOLD_INSTRUCTIONS: "fold"}.get(system, "chat")


def turn(request: dict[str, Any]) -> str:
    """The user message a manager call is about."""
    return re.search(r"<user>\n(.*?)\n</user>", request["messages"][1]["content"], re.S)[1]


def listed(request: dict[str, Any]) -> dict[int, str]:
    """The memories (id -> text) a manager call or an agentic chat was shown."""
    text = "\n".join(m["content"] or "" for m in request["messages"] if m["role"] == "system")
    text += "\n" + (request["messages"][1]["content"] if kind(request) == "manager" else "")
    return {int(i): memory for i, memory in _LISTED.findall(text)}


def folded(request: dict[str, Any]) -> tuple[list[str], list[str]]:
    """A fold's (previous summary bullets, user messages of the runs to fold in)."""
    previous, turns = request["messages"][1]["content"].split("Conversation turns", 1)
    return re.findall(r"^- (.*)$", previous, re.M), re.findall(r"^User: (.*)$", turns, re.M)


def manager(request: dict[str, Any]):
    if request["messages"][-1]["role"] == "tool":
        return Text("none")  # a second round: nothing more to do
    said = turn(request)
    calls: list[tuple[str, Any]] = [("add_memory", {"memory": f"Fact from {said}."})]
    for memory_id, text in listed(request).items():
        if text.startswith(LATEST):
            calls.append(("update_memory", {"memory_id": memory_id, "memory": f"{LATEST}{said}."}))
    return ToolCalls(calls)


def fold(request: dict[str, Any]):
    previous, said = folded(request)
    return Text("\n".join(f"- {m}" for m in previous + said))


def scripted(request: dict[str, Any]):
    return {"manager": manager, "fold": fold, "chat": echo}[kind(request)](request)


def summary_lines(request: dict[str, Any]) -> list[str]:
    """The summary bullets in a chat request's system prompt."""
    system = request["messages"][0]["content"]
    if "## Summary of the earlier conversation" not in system:
        return []
    part = system.split("## Summary of the earlier conversation", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^- (.*)$", part, re.M)


def history_users(request: dict[str, Any]) -> list[str]:
    """The user messages a chat request carries verbatim (the last one is the new one)."""
    return [m["content"] for m in request["messages"] if m["role"] == "user"]


def memory_lines(request: dict[str, Any]) -> list[str]:
    """The memories listed in a chat request's system prompt (without ids)."""
    system = request["messages"][0]["content"]
    if "## What you know about the user" not in system:
        return []
    part = system.split("## What you know about the user", 1)[1].split("\n## ", 1)[0]
    return [re.sub(r"^\[\d+\] ", "", line) for line in re.findall(r"^- (.*)$", part, re.M)]
