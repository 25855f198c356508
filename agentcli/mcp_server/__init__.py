"""``agentcli mcp``: the user's memory and sessions as a Model Context Protocol server.

``specs.py`` describes the tools and ``tools.py`` runs them (neither imports
``mcp``); ``server.py`` builds the ``mcp`` SDK server from them and serves it
over stdio or HTTP. Only the ``mcp`` command (and an HTTP server offering
``/mcp``) imports this package.
"""
