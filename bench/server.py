"""The benchmark's Chat Completions server: the tests' scripted server on 127.0.0.1."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from chat_server import ChatServer, Text, echo  # noqa: E402

MODEL = "bench-model"


def answer(request: dict) -> Text:
    """Echo the user; a JSON object when structured output is asked for (Agno's summaries)."""
    if request.get("response_format"):
        summary = {"summary": "The user and the assistant exchanged greetings.", "topics": []}
        return Text(json.dumps(summary), chunk=64)
    return echo(request)


def start() -> ChatServer:
    return ChatServer(default=answer).start()
