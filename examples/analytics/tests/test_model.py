"""The figures one event adds, without Kafka or a database."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from analytics.model import apply
from contracts.base import Money
from contracts.booking import (
    BookingCancelled,
    BookingCheckedIn,
    BookingConfirmed,
    BookingCreated,
    BookingRefunded,
    BookingUpdated,
    WaitlistOffered,
)
from contracts.common import Party, StayPeriod

# 23:30 UTC on 31 December is already 1 January in Tokyo.
LATE = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
COMMON = {"booking_id": "b-1", "occurred_at": LATE}
EUR = Money(amount=Decimal("300.00"), currency="EUR")


def created(tz: str = "Asia/Tokyo") -> BookingCreated:
    return BookingCreated(
        **COMMON,
        booking_version=1,
        status="pending",
        resource_id="r-1",
        period=StayPeriod(check_in=date(2027, 2, 1), check_out=date(2027, 2, 3)),
        party=Party(adults=2),
        timezone=tz,
    )


def confirmed(version: int = 2) -> BookingConfirmed:
    return BookingConfirmed(
        **COMMON,
        booking_version=version,
        status="confirmed",
        total=EUR,
        payment_id="p",
        reservation_id="r",
    )


def test_a_day_is_the_resource_timezone_s_day() -> None:
    assert apply(None, created("Asia/Tokyo")).day == date(2027, 1, 1)  # type: ignore[union-attr]
    assert apply(None, created("Europe/Lisbon")).day == date(2026, 12, 31)  # type: ignore[union-attr]


def test_a_booking_s_life_adds_up() -> None:
    first = apply(None, created())
    assert first is not None and first.created == 1
    second = apply(first.state, confirmed())
    assert (
        second is not None
        and second.confirmed == 1
        and second.revenue == {"EUR": Decimal("300.00")}
    )
    dearer = BookingUpdated(
        **COMMON,
        booking_version=3,
        status="confirmed",
        changed=("period", "total"),
        total=Money(amount=Decimal("420.00"), currency="EUR"),
    )
    third = apply(second.state, dearer)
    assert third is not None and third.revenue == {"EUR": Decimal("120.00")}
    fourth = apply(third.state, BookingCancelled(**COMMON, booking_version=4, status="cancelled"))
    assert fourth is not None and fourth.cancelled == 1
    fifth = apply(
        fourth.state, BookingRefunded(**COMMON, booking_version=5, status="refunded", refund=EUR)
    )
    assert fifth is not None and fifth.refunded == {"EUR": Decimal("300.00")}
    assert fifth.state.confirmed and fifth.state.status == "refunded"


def test_redeliveries_and_strangers_add_nothing() -> None:
    first = apply(None, created())
    assert first is not None
    assert apply(first.state, created()) is None  # created again
    second = apply(first.state, confirmed())
    assert second is not None
    assert apply(second.state, confirmed()) is None  # the same version again
    assert apply(None, confirmed()) is None  # a booking created before this consumer started
    offer = WaitlistOffered(
        entry_id="w",
        tenant_id="t",
        resource_id="r-1",
        occurred_at=LATE,
        hold_id="h",
        expires_at=LATE,
        guest_id="g",
    )
    assert apply(None, offer) is None
    plain = apply(second.state, BookingCheckedIn(**COMMON, booking_version=3, status="checked_in"))
    assert plain is not None and (plain.created, plain.confirmed, plain.revenue) == (0, 0, {})
