"""Database engines. One Postgres database per service; URLs come from settings.

Every connection carries timeouts (``DbTimeouts``): a statement, a lock wait and a transaction
left idle are ended by the server, a call the server never answers by the client, and TCP
keepalives on both ends find a peer that vanished (a partition, a frozen process) in seconds
rather than the kernel's quarter of an hour. So a frozen or cut-off worker cannot hold row
locks, or the rows its transaction claimed, for longer than those bounds.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DbTimeouts:
    """Seconds; 0 turns one off. Defaults are the settings' (``<SERVICE>_DB_*``)."""

    statement_s: float = 30.0
    lock_s: float = 10.0
    idle_in_transaction_s: float = 30.0
    command_s: float = 40.0  # client side, past the server's statement timeout
    keepalive_idle_s: int = 10
    keepalive_interval_s: int = 5
    keepalive_count: int = 3

    def server_settings(self, application_name: str = "booking-platform") -> dict[str, str]:
        """Session settings every connection starts with."""
        return {
            "application_name": application_name,
            "statement_timeout": str(int(self.statement_s * 1000)),
            "lock_timeout": str(int(self.lock_s * 1000)),
            "idle_in_transaction_session_timeout": str(int(self.idle_in_transaction_s * 1000)),
            "tcp_keepalives_idle": str(self.keepalive_idle_s),
            "tcp_keepalives_interval": str(self.keepalive_interval_s),
            "tcp_keepalives_count": str(self.keepalive_count),
        }

    def asyncpg_kwargs(self) -> dict[str, Any]:
        """For ``asyncpg.connect``: the session settings and the client's command timeout."""
        return {
            "server_settings": self.server_settings(),
            "command_timeout": self.command_s or None,
            "timeout": 10,
        }

    def keep_alive(self, asyncpg_connection: Any) -> None:
        """Client-side keepalives on an asyncpg connection's socket (asyncpg sets none)."""
        try:
            sock = asyncpg_connection._transport.get_extra_info("socket")
            if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
                return  # a Unix socket: no network to lose
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, self.keepalive_idle_s)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, self.keepalive_interval_s)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, self.keepalive_count)
            timeout_ms = self.keepalive_idle_s + self.keepalive_interval_s * self.keepalive_count
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, timeout_ms * 1000)
        except (AttributeError, OSError) as exc:  # not fatal: the server's keepalives remain
            log.debug("no client keepalives on this connection: %s", exc)


def sqlalchemy_url(url: str) -> str:
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def asyncpg_dsn(url: str) -> str:
    parsed = make_url(url)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def redact(url: str) -> str:
    """The URL with its password masked: the only form that may reach a log line."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database url>"


def make_engine(
    url: str,
    *,
    pool_size: int = 10,
    timeouts: DbTimeouts | None = None,
    bookkeeping: bool = False,
) -> AsyncEngine:
    """``bookkeeping``: an engine for single statements whose loss in a server crash costs
    nothing but a count (the poison-message counter): autocommit, asynchronous commit, so each
    is one round trip that never waits for the WAL to reach the disk."""
    timeouts = timeouts or DbTimeouts()
    connect_args = timeouts.asyncpg_kwargs()
    extra: dict[str, Any] = {}
    if bookkeeping:
        connect_args["server_settings"]["synchronous_commit"] = "off"
        extra["isolation_level"] = "AUTOCOMMIT"
    engine = create_async_engine(
        sqlalchemy_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=10,
        pool_recycle=1800,
        # A failed statement's error never carries its parameters (a guest's email, a secret).
        hide_parameters=True,
        connect_args=connect_args,
        **extra,
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _keep_alive(dbapi_connection: Any, _: Any) -> None:
        timeouts.keep_alive(dbapi_connection.driver_connection)

    return engine


def raw_connector(url: str, timeouts: DbTimeouts) -> Callable[[], Awaitable[asyncpg.Connection]]:
    """Opens a plain asyncpg connection outside the pool (the relay's, a LISTEN), with the
    same timeouts and keepalives as the engine's."""

    async def connect() -> asyncpg.Connection:
        conn = await asyncpg.connect(asyncpg_dsn(url), **timeouts.asyncpg_kwargs())
        timeouts.keep_alive(conn)
        return conn

    return connect
