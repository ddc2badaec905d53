"""Whether a host name or address stays on this machine (what never needs TLS or a proxy)."""

from __future__ import annotations

import ipaddress

__all__ = ["is_loopback"]


def is_loopback(host: str) -> bool:
    """`localhost`, 127.0.0.0/8 or ::1; a name other than localhost is not taken as loopback."""
    try:
        return host == "localhost" or ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
