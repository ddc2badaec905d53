"""Whether a host name or address stays on this machine (what never needs TLS or a proxy)."""

from __future__ import annotations

import ipaddress
import urllib.parse
import urllib.request

__all__ = ["is_loopback", "opener_for"]


def is_loopback(host: str) -> bool:
    """`localhost`, 127.0.0.0/8 or ::1; a name other than localhost is not taken as loopback."""
    try:
        return host == "localhost" or ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def opener_for(url: str, *handlers: urllib.request.BaseHandler) -> urllib.request.OpenerDirector:
    """Straight to a server on this machine, whatever `http_proxy` says: a proxy would receive
    what is sent. Elsewhere, as the environment says (that host receives it anyway)."""
    if is_loopback(urllib.parse.urlsplit(url).hostname or ""):
        return urllib.request.build_opener(urllib.request.ProxyHandler({}), *handlers)
    return urllib.request.build_opener(*handlers)
