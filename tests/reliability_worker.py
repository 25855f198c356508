"""A worker process for the concurrency and crash tests.

    python reliability_worker.py USER SESSION COUNT TAG

runs ``agentcli chat -u USER -s SESSION "TAG rI"`` for I in 0..COUNT-1, each
through the real command-line entry point but inside this one process (a
process start with ``openai`` imported costs about a second). The database
and the endpoint come from the environment, as for the command. Exits with
the number of invocations that did not exit 0.
"""

from __future__ import annotations

import sys

from agentcli.cli import main


def work(user: str, session: str, count: int, tag: str) -> int:
    failed = 0
    for i in range(count):
        if main(["chat", "-u", user, "-s", session, f"{tag} r{i}"]) != 0:
            failed += 1
    return failed


if __name__ == "__main__":
    user, session, count, tag = sys.argv[1:5]
    sys.exit(work(user, session, int(count), tag))
