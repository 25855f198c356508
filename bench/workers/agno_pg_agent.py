"""Agno's Agent.run with its PostgresDb in a loop (see loop.py).

Usage: agno_pg_agent.py DB_URL URL MODEL (DB_URL: ``postgresql+psycopg://...``).
"""

import sys

from agno.agent import Agent
from agno.db.postgres import PostgresDb
from agno.models.openai import OpenAIChat
from loop import serve

db_url, url, model = sys.argv[1:4]
agent = Agent(
    model=OpenAIChat(id=model, base_url=url, api_key="bench"),
    db=PostgresDb(db_url=db_url),
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
