"""The CLI's command groups, one module each; ``cli.py`` wires them together."""
