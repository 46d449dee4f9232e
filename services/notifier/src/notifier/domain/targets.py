"""Where a webhook may point. Pure.

A webhook URL is chosen by a tenant, and the notifier calls it from inside the platform's
network: without a rule, ``http://10.0.0.5/admin`` or the cloud metadata address would be a way
in (server-side request forgery). So a target must resolve only to public addresses, unless its
address lies in a network the operator allowed (``NOTIFIER_WEBHOOK_ALLOWED_NETWORKS``; the
tests allow loopback). Plain ``http`` is accepted only for such allowed targets: signed payloads
carry personal data and travel the internet over TLS. The check is made when an endpoint is
registered and again on every connection (``adapters/http.py``), so a DNS answer that changed
since cannot lead the notifier inward.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2000


class TargetRefused(ValueError):
    """The target is not one the notifier will call; the message says why."""


def split_url(url: str) -> tuple[str, str, int]:
    """Scheme, host and port of a webhook URL; TargetRefused when it cannot be one."""
    if len(url) > MAX_URL_LENGTH:
        raise TargetRefused(f"a webhook URL has at most {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise TargetRefused("the URL cannot be parsed") from None
    if parts.scheme not in ("http", "https"):
        raise TargetRefused("a webhook URL is https:// (or http:// to an allowed network)")
    if not parts.hostname:
        raise TargetRefused("a webhook URL names a host")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("credentials do not belong in a webhook URL")
    if parts.fragment:
        raise TargetRefused("a webhook URL has no #fragment")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def _plain(ip: IPAddress) -> IPAddress:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped  # ::ffff:10.0.0.1 is 10.0.0.1
    return ip


def allowed_by_network(ip: IPAddress, allowed: Iterable[IPNetwork]) -> bool:
    ip = _plain(ip)
    return any(ip.version == net.version and ip in net for net in allowed)


def check_address(ip: IPAddress, allowed: Iterable[IPNetwork]) -> None:
    """TargetRefused unless ``ip`` is a public unicast address or in an allowed network."""
    ip = _plain(ip)
    if allowed_by_network(ip, allowed):
        return
    if not ip.is_global or ip.is_multicast:
        raise TargetRefused(
            f"{ip} is not a public address (private, loopback, link-local or reserved targets "
            "are refused unless NOTIFIER_WEBHOOK_ALLOWED_NETWORKS allows them)"
        )


def check_target(scheme: str, addresses: Iterable[IPAddress], allowed: Iterable[IPNetwork]) -> None:
    """Every address the host resolves to must pass; ``http`` only to allowed networks."""
    allowed = tuple(allowed)
    found = list(addresses)
    if not found:
        raise TargetRefused("the host has no address")
    for ip in found:
        check_address(ip, allowed)
        if scheme == "http" and not allowed_by_network(ip, allowed):
            raise TargetRefused("plain http is accepted only to an allowed network; use https")
