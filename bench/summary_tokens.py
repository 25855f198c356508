"""Prompt tokens per request over a 200-run session, with and without summaries.

Runs a local Chat Completions server (the test suite's) and one agent per
setting against it; prints a Markdown table. Tokens are the server's count
(characters / 4) of each chat request; folds are counted separately.

    python bench/summary_tokens.py [--runs 200] [--window 5] [--batch 5]

The scripted summarizer answers a fold with one line per fact it was given
(the previous summary's lines, then the first sentence of each new user
message), keeping the newest lines within the word budget the fold prompt
asks a real model for.
"""

from __future__ import annotations

import argparse
import re
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from chat_server import ChatServer, Text, last_user, prompt_tokens  # noqa: E402

from agentcli import Agent, OpenAIChat, SqliteDb  # noqa: E402
from agentcli.summary import FOLD_INSTRUCTIONS, SUMMARY_WORDS  # noqa: E402

TOPICS = ["the Lisbon trip", "the garden shed", "the quarterly report", "Maya's birthday"]
CHECKPOINTS = (10, 20, 50, 100, 150, 200)


def user_message(i: int) -> str:
    topic = TOPICS[i % len(TOPICS)]
    return (
        f"Note {i}: about {topic}, the budget is now {100 + 7 * i} euros and the deadline "
        f"moved to day {i % 28 + 1} of the month. I spoke to Alex this morning and we agreed "
        "to keep the plan simple, but I still worry about the costs adding up. "
        "Can you tell me what you think I should do next, and what I might be forgetting?"
    )


def reply(request: dict) -> Text:
    said = last_user(request)
    return Text(
        f"Thanks, noted: {said[:80]}... Given the new budget and deadline, I would first "
        "confirm the fixed costs with Alex, then set aside a tenth of the budget for "
        "surprises. You might be forgetting the booking fees and the time it takes to get "
        "approvals, so start on those this week."
    )


def fold(request: dict) -> Text:
    prompt = request["messages"][1]["content"]
    previous, turns = prompt.split("Conversation turns", 1)
    lines = re.findall(r"^- (.*)$", previous, re.M)
    lines += [m.split(". ")[0] for m in re.findall(r"^User: (.*)$", turns, re.M)]
    kept: list[str] = []
    words = 0
    for line in reversed(lines):
        words += len(line.split())
        if words > SUMMARY_WORDS:
            break
        kept.insert(0, line)
    return Text("\n".join(f"- {line}" for line in kept))


def without_nagle(server: ChatServer) -> ChatServer:
    """Answer small writes at once (TCP_NODELAY); otherwise each request waits ~40 ms."""
    base = server._http.RequestHandlerClass

    class Handler(base):  # type: ignore[misc,valid-type]
        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    server._http.RequestHandlerClass = Handler
    return server


def answer(request: dict) -> Text:
    if request["messages"][0]["content"] == FOLD_INSTRUCTIONS:
        return fold(request)
    return reply(request)


def measure(
    server: ChatServer, db: SqliteDb, session: str, runs: int, **options
) -> tuple[list[int], int]:
    """Prompt tokens of each chat request, and of all fold requests together."""
    server.requests.clear()
    model = OpenAIChat("bench-model", base_url=server.url, stream=False)
    agent = Agent(model=model, db=db, **options)
    chats: list[int] = []
    for i in range(1, runs + 1):
        agent.run(user_message(i), user_id="bench", session_id=session)
    folds = 0
    for request in server.requests:
        if request["messages"][0]["content"] == FOLD_INSTRUCTIONS:
            folds += prompt_tokens(request)
        else:
            chats.append(prompt_tokens(request))
    return chats, folds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--window", type=int, default=5)
    parser.add_argument("--batch", type=int, default=5)
    args = parser.parse_args()
    started = time.monotonic()
    settings = {
        f"window {args.window}, summaries off": dict(num_history_runs=args.window),
        f"window {args.window}, summaries on": dict(
            num_history_runs=args.window,
            enable_session_summaries=True,
            summary_batch_runs=args.batch,
        ),
        "whole history": dict(num_history_runs=args.runs),
    }
    results = {}
    with tempfile.TemporaryDirectory() as tmp, without_nagle(ChatServer(default=answer)) as server:
        db = SqliteDb(Path(tmp) / "bench.db")
        for name, options in settings.items():
            results[name] = measure(server, db, name, args.runs, **options)
        db.close()

    names = list(results)
    print(row("prompt tokens of run", names))
    print("|---:|" + "---:|" * len(names))
    for run in (c for c in CHECKPOINTS if c <= args.runs):
        print(row(str(run), [f"{results[n][0][run - 1]:,}" for n in names]))
    early = [max(results[n][0][9:20]) for n in names]
    late = [max(results[n][0][-11:]) for n in names]
    print(row("max of runs 10–20", [f"{v:,}" for v in early]))
    print(row(f"max of runs {args.runs - 10}–{args.runs}", [f"{v:,}" for v in late]))
    print(
        row("ratio of the two maxima", [f"{b / a:.2f}×" for a, b in zip(early, late, strict=True)])
    )
    totals = [sum(chats) + folds for chats, folds in results.values()]
    print(row("all prompt tokens, folds included", [f"{t:,}" for t in totals]))
    print(f"\n{args.runs} runs per setting in {time.monotonic() - started:.1f} s")


def row(label: str, cells: list[str]) -> str:
    return f"| {label} | " + " | ".join(cells) + " |"


if __name__ == "__main__":
    main()
