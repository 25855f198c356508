"""``agentcli mcp``: the user's memory and sessions as a Model Context Protocol server.

``tools.py`` holds what the server offers (no ``mcp`` import); ``server.py``
builds the ``mcp`` SDK server from it and serves it over stdio or HTTP. Only
the ``mcp`` command (and an HTTP server offering ``/mcp``) imports this package.
"""
