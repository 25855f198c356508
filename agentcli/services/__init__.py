"""The services every front end calls: the agent, memory, summaries and the shared rules.

They depend on the core's protocols only; adapters and front ends plug in from outside.
"""
