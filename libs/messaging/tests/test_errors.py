"""What the runner retries in place (the database or broker, not the message, is at fault)
and what it dead-letters."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy.exc import InvalidRequestError

from messaging.errors import (
    InvalidEnvelope,
    PermanentError,
    TransientError,
    describe,
    is_transient,
    safe_traceback,
)

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
        E.InternalClientError("cannot switch to state 15; another operation is in progress"),
        InvalidRequestError("This connection is closed"),
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
        InvalidRequestError("A value is required for bind parameter 'b'"),
        KeyError("unknown saga type"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_failures_of_the_message_itself_are_permanent(exc: BaseException) -> None:
    assert not is_transient(exc)


# What operators read of a failure (DLQ headers, logs, spans) never carries the data in it.
EMAIL, PHONE, SECRET = "ana.silva@example.org", "+351 912 345 678", "whsec_" + "k" * 40


def _raised(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:
        return caught


def test_a_validation_error_is_described_without_its_input() -> None:
    from pydantic import BaseModel

    class Guest(BaseModel):
        email: int
        phone: int

    try:
        Guest(email=EMAIL, phone=PHONE)  # type: ignore[arg-type]
    except Exception as exc:
        text = describe(exc) + safe_traceback(exc)
    assert "email: int_parsing" in text and "phone: int_parsing" in text
    assert EMAIL not in text and "912" not in text


def test_a_database_error_is_described_by_its_state_and_constraint_not_its_data() -> None:
    from sqlalchemy.exc import IntegrityError

    orig = E.UniqueViolationError('duplicate key value violates unique constraint "guests_email"')
    orig.constraint_name, orig.table_name = "guests_email", "guests"  # type: ignore[attr-defined]
    orig.detail = f"Key (email)=({EMAIL}) already exists."  # type: ignore[attr-defined]
    wrapped = IntegrityError(
        "INSERT INTO guests (email, secret) VALUES ($1, $2)", (EMAIL, SECRET), orig
    )
    wrapped.__cause__ = orig
    text = describe(_raised(wrapped)) + safe_traceback(_raised(wrapped))
    assert "SQLSTATE 23505" in text and "constraint guests_email" in text
    assert EMAIL not in text and SECRET not in text


def test_any_other_message_is_cut_short_and_masked() -> None:
    exc = _raised(ValueError(f"no booking for {EMAIL} / {PHONE} signed {SECRET}\nsecond line"))
    text = describe(exc)
    assert text.startswith("ValueError: no booking for <email>")
    for secret in (EMAIL, "912 345", SECRET, "second line"):
        assert secret not in text
    chained = _raised(RuntimeError("outer"))
    chained.__cause__ = exc
    assert EMAIL not in safe_traceback(chained) and "RuntimeError: outer" in safe_traceback(chained)
