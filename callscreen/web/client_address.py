"""The address of the client behind a request, honouring `[web] trusted_proxies`.

Behind a reverse proxy every connection comes from the proxy, so the login throttle and
the logs need the address the proxy forwarded. X-Forwarded-For is read only when the
connection's peer is a trusted proxy. Each proxy appends the address it received the
request from, so the client is the right-most entry that is not itself a trusted proxy.
Entries further left were written by the client and are ignored.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection

from aiohttp import hdrs, web
from aiohttp.web_request import BaseRequest

from callscreen.web.auth import context


def canonical_ip(text: str) -> str | None:
    """Return `text` as a canonical IP address string, or None when it is not one.

    An IPv4-mapped IPv6 address ("::ffff:192.0.2.1", as a dual-stack socket reports IPv4
    peers) becomes the IPv4 address, and "[2001:db8::1]" loses its brackets.
    """
    candidate = text.strip()
    if candidate.startswith("[") and candidate.endswith("]"):
        candidate = candidate[1:-1]

    try:
        address = ipaddress.ip_address(candidate)
    except ValueError:
        return None

    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address)


def trusted_set(proxies: Collection[str]) -> frozenset[str]:
    """Return the canonical forms of the configured proxy addresses (validated on load)."""
    return frozenset(address for proxy in proxies if (address := canonical_ip(proxy)))


def client_address(request: BaseRequest, trusted: frozenset[str]) -> str:
    """Return the client's address: the peer, or the one a trusted proxy forwarded.

    Falls back to the peer when the peer is not trusted, the header is missing, every
    entry is a trusted proxy, or the right-most untrusted entry is not an IP address.
    So a proxy that appends ports or host names is not supported.
    """
    peer = request.remote or ""
    if not trusted or canonical_ip(peer) not in trusted:
        return peer

    forwarded = ",".join(request.headers.getall(hdrs.X_FORWARDED_FOR, []))
    for entry in reversed(forwarded.split(",")):
        address = canonical_ip(entry)
        if address is None:
            return peer
        if address not in trusted:
            return address

    return peer


def request_client_address(request: web.Request) -> str:
    """Return `client_address` for a routed request, with the proxies of the app's config."""
    proxies = context(request).config.web.trusted_proxies
    return client_address(request, trusted_set(proxies))
