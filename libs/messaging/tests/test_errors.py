"""What the runner retries in place (the database or broker, not the message, is at fault)
and what it dead-letters."""

from __future__ import annotations

import asyncpg
import pytest

from messaging.errors import InvalidEnvelope, PermanentError, TransientError, is_transient

E = asyncpg.exceptions


@pytest.mark.parametrize(
    "exc",
    [
        E.SerializationError("could not serialize access"),
        E.DeadlockDetectedError("deadlock detected"),
        E.LockNotAvailableError("canceling statement due to lock timeout"),
        E.QueryCanceledError("canceling statement due to statement timeout"),
        E.IdleInTransactionSessionTimeoutError("terminating connection due to idle timeout"),
        E.AdminShutdownError("terminating connection due to administrator command"),
        E.CannotConnectNowError("the database system is starting up"),
        E.TooManyConnectionsError("sorry, too many clients already"),
        E.InvalidPasswordError("password authentication failed"),
        E.ObjectNotInPrerequisiteStateError(
            'database "inventory" is not currently accepting connections'
        ),
        E.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        ConnectionRefusedError(111, "Connection refused"),
        TimeoutError(),
        TransientError("the provider is down"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_infrastructure_failures_are_transient(exc: BaseException) -> None:
    assert is_transient(exc)


@pytest.mark.parametrize(
    "exc",
    [
        E.UniqueViolationError("duplicate key value"),
        E.CheckViolationError("new row violates check constraint"),
        E.ObjectNotInPrerequisiteStateError("cannot refresh materialized view concurrently"),
        E.UndefinedColumnError("column does not exist"),
        PermanentError("never"),
        InvalidEnvelope("not a CloudEvent"),
        ValueError("bad data"),
        KeyError("unknown saga type"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_failures_of_the_message_itself_are_permanent(exc: BaseException) -> None:
    assert not is_transient(exc)
