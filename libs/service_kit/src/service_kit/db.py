"""Database engines. One Postgres database per service; URLs come from settings.

Every connection carries timeouts (``DbTimeouts``): a statement, a lock wait and a transaction
left idle are ended by the server, a call the server never answers by the client, and TCP
keepalives on both ends find a peer that vanished (a partition, a frozen process) in seconds
rather than the kernel's quarter of an hour. So a frozen or cut-off worker cannot hold row
locks, or the rows its transaction claimed, for longer than those bounds.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.util.concurrency import await_only

from messaging import tenancy
from messaging.errors import TransientError, describe

log = logging.getLogger(__name__)

_FRESH = "platform.fresh"  # a pooled connection's record: opened, never checked out yet


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
        """Session settings every connection starts with (acting for no tenant)."""
        return {
            "application_name": application_name,
            tenancy.SETTING: tenancy.NO_TENANT,
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
    dsn = asyncpg_dsn(url)

    async def connect() -> asyncpg.Connection:
        # asyncpg reads the URL itself, libpq's sslmode, sslrootcert, sslcert and sslkey
        # included (SQLAlchemy would hand them to asyncpg as unknown arguments).
        return await asyncpg.connect(dsn, **connect_args)

    engine = create_async_engine(
        "postgresql+asyncpg://",
        async_creator=connect,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=10,
        pool_recycle=1800,
        # A failed statement's error never carries its parameters (a guest's email, a secret).
        hide_parameters=True,
        **extra,
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _keep_alive(dbapi_connection: Any, record: Any) -> None:
        timeouts.keep_alive(dbapi_connection.driver_connection)
        record.info[tenancy.SETTING] = tenancy.NO_TENANT  # as its server settings say
        record.info[_FRESH] = True

    @event.listens_for(engine.sync_engine, "checkout")
    def _act_for_tenant(dbapi_connection: Any, record: Any, _: Any) -> None:
        # Outside any transaction (SQLAlchemy begins one at the first statement), so the
        # session keeps the setting until it is told another: once per change of tenant.
        wanted = tenancy.current()
        fresh = record.info.pop(_FRESH, False)
        if record.info.get(tenancy.SETTING) != wanted:
            try:
                await_only(
                    dbapi_connection.driver_connection.execute(
                        "SELECT set_config($1, $2, false)", tenancy.SETTING, wanted
                    )
                )
            except Exception as exc:
                record.info.pop(tenancy.SETTING, None)
                if fresh:
                    # Just opened and already gone (this statement cannot fail otherwise): the
                    # database is away or cutting its sessions. The caller sees an error it
                    # retries, and the pool discards the connection. (Asking the pool for
                    # another instead ends, on the second failure, in "This connection is
                    # closed", which is never retried; asyncpg itself may answer a session cut
                    # mid-statement with an InternalClientError.)
                    raise TransientError(
                        f"a new database connection failed: {describe(exc)}"
                    ) from exc
                # A connection that died in the pool (a failover, a terminated backend): the
                # pool drops it and opens a new one.
                raise DisconnectionError(type(exc).__name__) from exc
            record.info[tenancy.SETTING] = wanted

    return engine


def raw_connector(url: str, timeouts: DbTimeouts) -> Callable[[], Awaitable[asyncpg.Connection]]:
    """Opens a plain asyncpg connection outside the pool (the relay's, a LISTEN), with the
    same timeouts and keepalives as the engine's."""

    async def connect() -> asyncpg.Connection:
        conn = await asyncpg.connect(asyncpg_dsn(url), **timeouts.asyncpg_kwargs())
        timeouts.keep_alive(conn)
        return conn

    return connect


async def warn_if_unwalled(engine: AsyncEngine, timeout_s: float = 5.0) -> bool:
    """Say so, once at start-up, when the role this process connects as is not held by
    row-level security (a superuser, or BYPASSRLS): True then. Never blocks start-up."""
    try:
        async with asyncio.timeout(timeout_s), engine.connect() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT current_user AS role, rolsuper OR rolbypassrls AS bypasses "
                        "FROM pg_roles WHERE rolname = current_user"
                    )
                )
            ).one()
    except Exception:  # the database is away: readiness says so, not this check
        return False
    if row.bypasses:
        log.warning(
            "database role %s bypasses row-level security (superuser or BYPASSRLS): tenants "
            "are kept apart by the queries' own filters alone; connect as a role of its own",
            row.role,
        )
    return bool(row.bypasses)
