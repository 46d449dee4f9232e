"""How the consumer runner tells a failure worth retrying from one that never succeeds."""

from __future__ import annotations

import asyncio

import asyncpg
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError


class TransientError(Exception):
    """Raise from a handler when trying again later may succeed (a dependency is down)."""


class PermanentError(Exception):
    """Raise from a handler when the message can never be processed; it goes to the DLQ."""


class InvalidEnvelope(PermanentError):
    """The record is not a CloudEvent this platform understands."""


class UnknownMessageType(PermanentError):
    """No contract declares this CloudEvents type."""


# SQLSTATEs that mean "the same statement may succeed if retried".
_RETRYABLE_SQLSTATES = frozenset(
    {
        "40001",  # serialization_failure
        "40P01",  # deadlock_detected
        "40003",  # statement_completion_unknown
        "55P03",  # lock_not_available (lock_timeout)
        "57014",  # query_canceled (statement_timeout)
        "25P03",  # idle_in_transaction_session_timeout
        "57P01",  # admin_shutdown
        "57P02",  # crash_shutdown
        "57P03",  # cannot_connect_now
    }
)
# Whole classes: connection exceptions, insufficient resources (too many connections, disk
# full), system errors (I/O), and refused logins (a password being rotated): the database, not
# the message, is at fault, and an operator fixes it while the partition waits.
_RETRYABLE_CLASSES = ("08", "53", "58", "28")
# A database that refuses connections (ALTER DATABASE ... ALLOW_CONNECTIONS false, during a
# failover or maintenance) answers 55000 at connect time.
_REFUSING = "not currently accepting connections"


def _sqlstate(exc: BaseException) -> str | None:
    orig = getattr(exc, "orig", None)
    for candidate in (exc, orig, getattr(orig, "__cause__", None)):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if isinstance(code, str):
            return code
    return None


def is_transient(exc: BaseException) -> bool:
    """True when retrying the whole unit of work may succeed."""
    if isinstance(exc, PermanentError):
        return False
    if isinstance(exc, TransientError | TimeoutError | asyncio.TimeoutError | ConnectionError):
        return True
    if isinstance(exc, asyncpg.PostgresConnectionError | asyncpg.InterfaceError):
        return True
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    if isinstance(exc, DBAPIError | asyncpg.PostgresError):
        state = _sqlstate(exc) or ""
        if state in _RETRYABLE_SQLSTATES or state.startswith(_RETRYABLE_CLASSES):
            return True
        return state == "55000" and _REFUSING in str(exc)
    return isinstance(exc, OSError)
