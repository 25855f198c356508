"""Agno's AgentOS serving the bench agent (as agno_agent.py) on uvicorn.

Usage: agentos_app.py DB URL MODEL PORT. Runs in Agno's own virtualenv.
"""

import sys

import uvicorn
from agno.agent import Agent
from agno.db.sqlite import SqliteDb
from agno.models.openai import OpenAIChat
from agno.os import AgentOS

db_path, url, model, port = sys.argv[1:5]
agent = Agent(
    id="bench",
    name="bench",
    model=OpenAIChat(id=model, base_url=url, api_key="bench"),
    db=SqliteDb(db_file=db_path),
    add_history_to_context=True,
    num_history_runs=5,
    enable_agentic_memory=True,
    enable_session_summaries=True,
    telemetry=False,
)
app = AgentOS(agents=[agent], telemetry=False).get_app()
uvicorn.run(app, host="127.0.0.1", port=int(port), log_level="warning", access_log=False)
