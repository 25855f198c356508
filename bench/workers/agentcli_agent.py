"""Agent.run of agentcli in a loop (see loop.py). Usage: agentcli_agent.py DB URL MODEL.

DB is a SQLite file or a PostgreSQL URL (its schema from ``AGENTCLI_DB_SCHEMA``).
"""

import sys

from loop import serve

from agentcli import Agent, OpenAIChat
from agentcli.runtime import open_store

db_target, url, model = sys.argv[1:4]
agent = Agent(
    model=OpenAIChat(model, base_url=url, api_key="bench", stream=False),
    db=open_store(db_target),
    add_history_to_context=True,
    num_history_runs=5,
    enable_agentic_memory=True,
    enable_session_summaries=True,
    summary_batch_runs=5,
)


def run(user: str, session: str, message: str) -> None:
    agent.run(message, user_id=user, session_id=session)


serve(run)
