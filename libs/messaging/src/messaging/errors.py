"""How the consumer runner tells a failure worth retrying from one that never succeeds."""

from __future__ import annotations

import asyncio
import re
import traceback

import asyncpg
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, InterfaceError, InvalidRequestError, OperationalError


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
    # A connection cut mid-use: asyncpg's protocol left in a state it cannot continue from, or
    # SQLAlchemy asked to go on with a connection that was closed under it.
    if isinstance(exc, asyncpg.InternalClientError):
        return True
    if isinstance(exc, InvalidRequestError) and "connection is closed" in str(exc):
        return True
    if isinstance(exc, DBAPIError | asyncpg.PostgresError):
        state = _sqlstate(exc) or ""
        if state in _RETRYABLE_SQLSTATES or state.startswith(_RETRYABLE_CLASSES):
            return True
        return state == "55000" and _REFUSING in str(exc)
    return isinstance(exc, OSError)


# What a failure may say where operators read it (DLQ headers, logs, problem details): its
# class and a short message that carries no data. Exception texts are not safe as they are: a
# pydantic error repeats the input (a guest's email), a database error its parameters and often
# values in its message and detail (``Key (email)=(...)``). So errors we know are described
# from their structure, and any other message is cut short with email- and phone-like text
# masked, a last net for data in an exception someone else wrote.
_EMAIL = re.compile(r"[^\s@'\"<>(),;:]+@[^\s@'\"<>(),;:]+")
_NUMBER = re.compile(r"\+?\d[\d ().-]{6,}\d")
_LONG_TOKEN = re.compile(r"[A-Za-z0-9_\-+/=.]{40,}")  # keys, tokens, signatures
MESSAGE_LIMIT = 300


def mask(text: str) -> str:
    """``text`` with email addresses, phone-like numbers and long tokens replaced."""
    text = _EMAIL.sub("<email>", text)
    text = _LONG_TOKEN.sub("<token>", text)
    return _NUMBER.sub("<number>", text)


def _database_error(exc: BaseException) -> BaseException | None:
    orig = getattr(exc, "orig", None)
    for candidate in (exc, orig, getattr(orig, "__cause__", None)):
        if isinstance(candidate, asyncpg.PostgresError):
            return candidate
    return None


def describe(exc: BaseException) -> str:
    """``Class: message``, safe to show: no input values, SQL parameters or row data."""
    name = type(exc).__name__
    if isinstance(exc, ValidationError):
        where = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(message)'}: {e['type']}"
            for e in exc.errors(include_url=False, include_input=False, include_context=False)[:8]
        )
        return f"{name}: {exc.error_count()} invalid field(s) of {exc.title}: {where}"[
            :MESSAGE_LIMIT
        ]
    db = _database_error(exc)
    if db is not None or isinstance(exc, DBAPIError):
        state = _sqlstate(exc)
        parts = [f"SQLSTATE {state}" if state else "database error"]
        if db is not None:
            parts.append(type(db).__name__)
            for attr in ("constraint_name", "table_name", "column_name"):
                value = getattr(db, attr, None)
                if value:
                    parts.append(f"{attr.removesuffix('_name')} {value}")
        return f"{name}: {', '.join(parts)}"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    first = mask(first)
    if len(first) > MESSAGE_LIMIT:
        first = first[: MESSAGE_LIMIT - 1] + "…"
    return f"{name}: {first}" if first else name


def safe_traceback(exc: BaseException, limit: int = 4000) -> str:
    """The chain of failures, each described safely, with its frames (files, lines and source
    lines; never local values)."""
    chain: list[BaseException] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append(current)
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    parts = []
    for failure in reversed(chain):
        parts.append("Traceback (most recent call last):\n")
        parts.extend(traceback.format_tb(failure.__traceback__))
        parts.append(describe(failure) + "\n")
    text = "".join(parts)
    return text[-limit:]
