"""Prompt tokens per request over a 200-run session, with and without summaries.

Runs a local Chat Completions server (the test suite's) and one agent per
setting against it; prints a Markdown table. Tokens are the server's count
(characters / 4) of each chat request; folds are counted separately.

    python bench/summary_tokens.py [--runs 200] [--window 5] [--batch 5]

The scripted summarizer answers a fold with one line per fact it was given
(the previous summary's lines, then the first sentence of each new user
message), keeping the newest lines within the word budget the fold prompt
asks a real model for. ``python bench/run.py`` runs this too.
"""

from __future__ import annotations

import argparse
import re
import socket
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from chat_server import ChatServer, Request, Text, last_user, prompt_tokens  # noqa: E402

from agentcli import Agent, OpenAIChat, SqliteDb  # noqa: E402
from agentcli.services.summary import SUMMARY_WORDS  # noqa: E402

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


def answer(request: Request) -> Text:
    if request.purpose == "summary":  # from the X-Agentcli-Purpose header
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
        if request.purpose == "summary":
            folds += prompt_tokens(request)
        else:
            chats.append(prompt_tokens(request))
    return chats, folds


def measure_all(runs: int = 200, window: int = 5, batch: int = 5) -> dict:
    """Prompt tokens of every chat request per setting, and of the folds, as plain data."""
    started = time.monotonic()
    settings = {
        f"window {window}, summaries off": dict(num_history_runs=window),
        f"window {window}, summaries on": dict(
            num_history_runs=window, enable_session_summaries=True, summary_batch_runs=batch
        ),
        "whole history": dict(num_history_runs=runs),
    }
    results = {}
    with tempfile.TemporaryDirectory() as tmp, without_nagle(ChatServer(default=answer)) as server:
        db = SqliteDb(Path(tmp) / "bench.db")
        for name, options in settings.items():
            chats, folds = measure(server, db, name, runs, **options)
            results[name] = {"chats": chats, "folds": folds}
        db.close()
    return {
        "runs": runs,
        "window": window,
        "batch": batch,
        "settings": results,
        "seconds": time.monotonic() - started,
    }


def markdown(result: dict) -> str:
    """The table and the sentence the README shows, from :func:`measure_all`'s result."""
    runs, settings = result["runs"], result["settings"]
    names = list(settings)
    chats = [settings[n]["chats"] for n in names]
    lines = [row("prompt tokens of run", names), "|---:|" + "---:|" * len(names)]
    for run in (c for c in CHECKPOINTS if c <= runs):
        lines.append(row(str(run), [f"{c[run - 1]:,}" for c in chats]))
    early = [max(c[9:20]) for c in chats]
    late = [max(c[-11:]) for c in chats]
    ratios = [b / a for a, b in zip(early, late, strict=True)]
    lines += [
        row("max of runs 10–20", [f"{v:,}" for v in early]),
        row(f"max of runs {runs - 10}–{runs}", [f"{v:,}" for v in late]),
        row("ratio of the two maxima", [f"{r:.2f}×" for r in ratios]),
        row(
            "all prompt tokens, folds included",
            [f"{sum(settings[n]['chats']) + settings[n]['folds']:,}" for n in names],
        ),
        "",
        textwrap.fill(
            f"With summaries on, the largest request of runs {runs - 10}–{runs} is "
            f"{ratios[1]:.2f}× the largest of runs 10–20 ({ratios[2]:.2f}× when the whole "
            f"history is sent); the window alone is {ratios[0]:.2f}× but drops everything "
            f"older than {result['window']} runs.",
            78,
        ),
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--window", type=int, default=5)
    parser.add_argument("--batch", type=int, default=5)
    args = parser.parse_args()
    result = measure_all(args.runs, args.window, args.batch)
    print(markdown(result))
    print(f"{args.runs} runs per setting in {result['seconds']:.1f} s")


def row(label: str, cells: list[str]) -> str:
    return f"| {label} | " + " | ".join(cells) + " |"


if __name__ == "__main__":
    main()
