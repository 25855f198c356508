"""Agno's Agent.run with SqliteDb in a loop (see loop.py). Usage: agno_agent.py DB URL MODEL."""

import sys

from agno.agent import Agent
from agno.db.sqlite import SqliteDb
from agno.models.openai import OpenAIChat
from loop import serve

db_path, url, model = sys.argv[1:4]
agent = Agent(
    model=OpenAIChat(id=model, base_url=url, api_key="bench"),
    db=SqliteDb(db_file=db_path),
    add_history_to_context=True,
    num_history_runs=5,
    enable_agentic_memory=True,
    enable_session_summaries=True,
    telemetry=False,
)


def run(user: str, session: str, message: str) -> None:
    result = agent.run(message, user_id=user, session_id=session)
    status = str(getattr(result, "status", ""))
    if "error" in status.lower():
        raise RuntimeError(f"agno run status {status}: {getattr(result, 'content', '')}")


serve(run)
