"""Who is on the other end of a request: the client's address behind the ingress.

``X-Forwarded-For`` is only believed as far as the proxies that wrote it are trusted
(``TRUSTED_PROXIES``, CIDRs: the ingress controller's pods, the load balancer). The address is
read from the right: the direct peer, then each address a trusted proxy says it got the
request from, until one that is not a trusted proxy - the client. A client can write anything
into the header, but only to the left of what the trusted proxies appended, so it cannot
choose the address recorded. With no trusted proxies the direct peer is the client.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from starlette.requests import Request

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(value: str) -> tuple[Network, ...]:
    """``10.0.0.0/8, fd00::/8`` → networks; ValueError for anything else."""
    return tuple(ipaddress.ip_network(part.strip()) for part in value.split(",") if part.strip())


def _trusted(address: str, proxies: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip.version == net.version and ip in net for net in proxies)


def client_address(
    peer: str | None, forwarded_for: Iterable[str], proxies: Sequence[Network]
) -> str | None:
    hops = [h.strip() for header in forwarded_for for h in header.split(",") if h.strip()]
    current = peer
    while current is not None and _trusted(current, proxies) and hops:
        current = hops.pop()
    return current


def client_of(request: Request) -> str | None:
    """The client's address of ``request`` (see the module docstring)."""
    proxies: Sequence[Network] = getattr(request.app.state, "trusted_proxies", ())
    peer = request.client.host if request.client else None
    return client_address(peer, request.headers.getlist("x-forwarded-for"), proxies)
