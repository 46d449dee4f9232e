from __future__ import annotations

import pytest

from booking.domain.booking import TERMINAL, BookingStatus, IllegalTransition, transition
from booking.domain.reference import ALPHABET, new_reference


def test_pending_may_be_confirmed_or_rejected() -> None:
    assert transition(BookingStatus.PENDING, BookingStatus.CONFIRMED) is BookingStatus.CONFIRMED
    assert transition(BookingStatus.PENDING, BookingStatus.REJECTED) is BookingStatus.REJECTED


def test_a_confirmed_booking_never_goes_back_to_pending() -> None:
    with pytest.raises(IllegalTransition) as info:
        transition(BookingStatus.CONFIRMED, BookingStatus.PENDING)
    assert BookingStatus.CANCELLED in info.value.allowed


def test_completed_refunded_expired_and_rejected_are_immutable() -> None:
    assert {
        BookingStatus.COMPLETED,
        BookingStatus.REFUNDED,
        BookingStatus.EXPIRED,
        BookingStatus.REJECTED,
    } <= TERMINAL


def test_references_are_dated_and_unambiguous() -> None:
    from datetime import date

    ref = new_reference(date(2026, 11, 21))
    assert ref.startswith("BK-20261121-")
    assert all(c in ALPHABET for c in ref.split("-")[2])
