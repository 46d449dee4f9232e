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


def _v6(cidr: str) -> ipaddress.IPv6Network:
    return ipaddress.IPv6Network(cidr)


# IPv6 forms that carry an IPv4 address in their last 32 bits, which a translator or relay on
# the way may reach: NAT64 (RFC 6052), SIIT's IPv4-translated form (RFC 2765) and the
# deprecated IPv4-compatible form (RFC 4291). 6to4 and Teredo carry theirs elsewhere.
_NAT64 = _v6("64:ff9b::/96")
_SIIT = _v6("::ffff:0:0:0/96")
_V4_COMPATIBLE = _v6("::/96")
# Refused whatever they carry: deprecated or special-purpose ranges Python 3.11 still counts
# as global (site-local, the 6bone, the local-use NAT64 prefix of RFC 8215, IPv4-compatible).
_DEPRECATED = (_v6("fec0::/10"), _v6("3ffe::/16"), _v6("64:ff9b:1::/48"), _V4_COMPATIBLE)


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address leads to: a NAT64, SIIT or IPv4-compatible address's
    last 32 bits, a 6to4 address's gateway, a Teredo address's server and client."""
    last32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    found = [last32] if any(ip in net for net in (_NAT64, _SIIT, _V4_COMPATIBLE)) else []
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    return found


def allowed_by_network(ip: IPAddress, allowed: Iterable[IPNetwork]) -> bool:
    ip = _plain(ip)
    return any(ip.version == net.version and ip in net for net in allowed)


def _not_public(ip: IPAddress, why: str = "not a public address") -> TargetRefused:
    return TargetRefused(
        f"{ip} is {why} (private, loopback, link-local, reserved and translated targets are "
        "refused unless NOTIFIER_WEBHOOK_ALLOWED_NETWORKS allows them)"
    )


def check_address(ip: IPAddress, allowed: Iterable[IPNetwork]) -> None:
    """TargetRefused unless ``ip`` is a public unicast address or in an allowed network. An IPv6
    address that embeds an IPv4 address passes only if that address would, and deprecated
    ranges never do."""
    allowed = tuple(allowed)
    ip = _plain(ip)
    if allowed_by_network(ip, allowed):
        return
    if isinstance(ip, ipaddress.IPv6Address):
        if any(ip in net for net in _DEPRECATED):
            raise _not_public(ip, "in a deprecated or special-purpose range")
        for inner in embedded_ipv4(ip):
            if not inner.is_global or inner.is_multicast:
                raise _not_public(ip, f"a translated form of {inner}, not a public address")
    if not ip.is_global or ip.is_multicast:
        raise _not_public(ip)


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
