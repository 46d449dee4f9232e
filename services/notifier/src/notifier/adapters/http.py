"""The HTTP client that calls webhooks: it connects only to addresses the target policy allows
(``domain/targets.py``), checked at the moment of connecting, and never follows a redirect.

httpx resolves a host when it connects; checking the name beforehand and letting httpx resolve
it again would leave a window for a DNS answer to change (rebinding). So the connection pool
gets a network backend that resolves the host itself, refuses it unless every address passes,
and connects to the address it checked. TLS still verifies the certificate against the URL's
host name (httpcore passes it as the server name).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from notifier.domain.targets import IPAddress, IPNetwork, TargetRefused, check_target

MAX_RESPONSE_BYTES = 2048  # what the delivery log keeps of an answer
RESOLVE_TIMEOUT_S = 5.0


async def resolve(host: str, port: int) -> list[IPAddress]:
    """The host's addresses (an IP literal is its own)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise TargetRefused(f"the host {host} cannot be resolved ({exc.strerror})") from None
    seen: dict[str, IPAddress] = {}
    for *_, sockaddr in infos:
        seen.setdefault(str(sockaddr[0]), ipaddress.ip_address(str(sockaddr[0]).split("%")[0]))
    return list(seen.values())


async def checked_addresses(
    scheme: str, host: str, port: int, allowed: Iterable[IPNetwork]
) -> list[IPAddress]:
    addresses = await resolve(host, port)
    check_target(scheme, addresses, allowed)
    return addresses


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, allowed: tuple[IPNetwork, ...]) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._allowed = allowed

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        # The scheme is checked per request (GuardedTransport); here only the addresses.
        addresses = await checked_addresses("https", host, port, self._allowed)
        error: Exception | None = None
        for ip in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(ip), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        raise TargetRefused("webhooks are sent over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a pool that connects through :class:`_GuardedBackend`."""

    def __init__(self, allowed: Iterable[IPNetwork], max_connections: int = 100) -> None:
        super().__init__(trust_env=False)  # no proxy from the environment around the guard
        self._allowed = tuple(allowed)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=max_connections,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=_GuardedBackend(self._allowed),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme == "http":
            # Plain http only to a literal or resolved address inside an allowed network.
            host, port = request.url.host, request.url.port or 80
            await checked_addresses("http", host, port, self._allowed)
        return await super().handle_async_request(request)


def webhook_client(allowed: Iterable[IPNetwork], timeout_s: float) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=GuardedTransport(allowed),
        timeout=httpx.Timeout(timeout_s),
        follow_redirects=False,
        headers={"user-agent": "booking-platform-webhooks/1"},
    )


async def read_some(response: httpx.Response, limit: int = MAX_RESPONSE_BYTES) -> str:
    """The start of a streamed answer's body, never more than ``limit`` bytes read."""
    kept = b""
    async for chunk in response.aiter_bytes():
        kept += chunk
        if len(kept) >= limit:
            break
    return kept[:limit].decode("utf-8", "replace")
