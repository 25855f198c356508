"""Which addresses may be served without a token (no FastAPI here: checked first)."""

from __future__ import annotations

import ipaddress

from ..core.errors import UsageError

LOOPBACK_NAMES = ("localhost",)


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Only a loopback address may go without a token."""
    if not is_loopback(host) and not token:
        raise UsageError(
            f"refusing to listen on {host} without a token: set --token or "
            "AGENTCLI_SERVER_TOKEN, or listen on 127.0.0.1"
        )
