"""Modifying a booking, through its use case on the in-memory unit of work: which bookings may
move and how, and what the modify saga starts from."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from booking_memory_uow import GUEST, NOW, Booking, MemoryUnitOfWork

from booking.domain.booking import BookingStatus
from booking.domain.sagas import NO_SHOW
from booking.usecases.modify import ModifyBooking, Terms, modify_booking, new_time
from service_kit.audit import Actor
from service_kit.problems import Problem

TERMS = Terms(payment_deadline_s=1800, claim_hold_s=2400)
LATER = {"check_in": date(2027, 3, 11), "check_out": date(2027, 3, 14)}


def change(**fields: Any) -> ModifyBooking:
    requested = {k: str(v) for k, v in fields.items() if k != "if_match"}
    fields.setdefault("if_match", '"1"')
    return ModifyBooking(
        booking_id="b-1", who=GUEST, actor=Actor("g-1"), requested=requested, **fields
    )


async def refusal(uow: MemoryUnitOfWork, command: ModifyBooking) -> tuple[int, str]:
    with pytest.raises(Problem) as caught:
        await modify_booking(uow, command, when=LATER, timezone="Europe/Lisbon", terms=TERMS)
    assert not uow.changed
    return caught.value.status, caught.value.type


async def test_new_dates_start_the_modify_saga_from_the_booking_as_it_stands() -> None:
    uow = MemoryUnitOfWork()
    uow.add(Booking(id="b-1", refunded_amount=Decimal("50.00")))
    command = change(**LATER)
    kept = await modify_booking(uow, command, when=LATER, timezone="Europe/Lisbon", terms=TERMS)
    assert kept.status == "confirmed" and kept.version == 2  # it stays confirmed
    assert kept.modification["status"] == "in_progress"
    assert kept.modification["requested"] == command.requested
    assert kept.modification["requested_by"] == "g-1"
    [(name, data, seq)] = uow.started
    assert (name, seq) == ("modify_booking", 2)
    assert (data.check_in, data.check_out) == (LATER["check_in"], LATER["check_out"])
    assert data.claim_key == "b-1#2" and data.timezone == "Europe/Lisbon"
    assert (data.old_reservation_id, data.old_payment_id) == ("res-1", "p-1")
    assert data.reservation_id is None and data.payment_id is None and data.quote_id is None
    assert data.net_paid_before == Decimal("250.00")
    assert data.pay_by == NOW + timedelta(seconds=1800) and data.hold_seconds == 2400


async def test_if_match_is_required_and_must_be_current() -> None:
    uow = MemoryUnitOfWork()
    uow.add(Booking(id="b-1"))
    assert await refusal(uow, change(**LATER, if_match=None)) == (428, "precondition-required")
    assert await refusal(uow, change(**LATER, if_match='"7"')) == (412, "version-mismatch")


@pytest.mark.parametrize(
    ("booking", "expected"),
    [
        (Booking(id="b-1", status=BookingStatus.PENDING.value), (409, "not-modifiable")),
        (Booking(id="b-1", status=BookingStatus.CHECKED_IN.value), (409, "not-modifiable")),
        (Booking(id="b-1", starts_at=NOW), (409, "already-started")),
        (Booking(id="b-1", **LATER), (422, "nothing-to-change")),
    ],
)
async def test_only_a_confirmed_booking_not_yet_started_with_a_change_moves(
    booking: Booking, expected: tuple[int, str]
) -> None:
    uow = MemoryUnitOfWork()
    uow.add(booking)
    assert await refusal(uow, change(**LATER)) == expected


async def test_a_booking_with_a_saga_in_progress_is_busy() -> None:
    uow = MemoryUnitOfWork()
    uow.run_saga(uow.add(Booking(id="b-1")), NO_SHOW)
    assert await refusal(uow, change(**LATER)) == (409, "booking-busy")


@pytest.mark.parametrize(
    ("booking", "command", "detail"),
    [
        (Booking(id="b-1", slot_id="s-1"), change(**LATER), "moves to another slot_id"),
        (Booking(id="b-1"), change(slot_id="s-2"), "changes its dates, not a slot"),
        (Booking(id="b-1"), change(check_out=date(2027, 3, 10)), "check_out must be after"),
        (Booking(id="b-1"), change(check_out=date(2028, 3, 30)), "at most 365 nights"),
    ],
)
def test_a_stay_changes_dates_and_a_timeslot_booking_its_slot(
    booking: Booking, command: ModifyBooking, detail: str
) -> None:
    with pytest.raises(Problem, match=detail) as caught:
        new_time(booking, command)  # type: ignore[arg-type]
    assert (caught.value.status, caught.value.type) == (422, "invalid-modification")


def test_what_is_not_given_stays_as_it_is() -> None:
    stay = new_time(Booking(id="b-1"), change(check_out=date(2027, 3, 15)))  # type: ignore[arg-type]
    assert (stay.check_in, stay.check_out, stay.slot_id) == (
        date(2027, 3, 10),
        date(2027, 3, 15),
        None,
    )
    slot = new_time(Booking(id="b-1", slot_id="s-1"), change(party={"adults": 3}))  # type: ignore[arg-type]
    assert (slot.check_in, slot.check_out, slot.slot_id) == (None, None, "s-1")
