"""``agentcli serve``: the agent's sessions and memory over HTTP (FastAPI on uvicorn).

Two faces on one app: an OpenAI-compatible ``/v1/chat/completions`` (any
OpenAI SDK or chat UI gains the user's memory by changing its base URL) and a
native API whose JSON is the CLI's ``--json``. Runs execute on a bounded pool
of worker threads; the event loop only moves bytes. FastAPI and uvicorn are
imported by this package alone, which only ``serve`` loads.
"""
