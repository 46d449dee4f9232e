"""Opening a booking, through its use case on the in-memory unit of work: whose booking it is,
what is stored, and what the create saga starts from."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from booking_memory_uow import GUEST, NOW, STAFF, STAY, TERMS, MemoryUnitOfWork

from booking.usecases.open_booking import OpenBooking, Place, guest_of, open_booking
from service_kit.audit import Actor
from service_kit.auth import Principal
from service_kit.problems import Problem

SLOT = Place(
    venue_id=None,
    timezone="Europe/Lisbon",
    name="Tour",
    when={
        "check_in": date(2027, 3, 10),
        "check_out": date(2027, 3, 11),
        "starts_at": datetime(2027, 3, 10, 9, tzinfo=UTC),
        "ends_at": datetime(2027, 3, 10, 11, tzinfo=UTC),
    },
)


def a_booking(who: Principal = GUEST, **changes: object) -> OpenBooking:
    fields: dict[str, object] = {
        "who": who,
        "actor": Actor(who.subject),
        "guest_id": "g-1",
        "resource_id": "r-1",
        "slot_id": None,
        "party": {"adults": 2, "children": 0, "infants": 0},
        "contact": {"name": "Ana", "email": "ana@example.com", "locale": "pt-PT"},
        "payment_method": "pm_card_visa",
        **changes,
    }
    return OpenBooking(**fields)  # type: ignore[arg-type]


def test_a_guest_books_in_their_own_name_only_and_staff_in_anyones() -> None:
    assert guest_of(GUEST, None) == "g-1" and guest_of(GUEST, "g-1") == "g-1"
    with pytest.raises(Problem) as caught:
        guest_of(GUEST, "g-2")
    assert (caught.value.status, caught.value.type) == (403, "forbidden")
    assert guest_of(STAFF, "g-2") == "g-2" and guest_of(STAFF, None) == "desk"


async def test_a_stay_is_stored_pending_and_its_create_saga_starts_first() -> None:
    uow = MemoryUnitOfWork()
    booking = await open_booking(uow, a_booking(), STAY, TERMS)
    assert booking.status == "pending" and booking.version == 1
    [stored] = uow.created
    assert stored["tenant_id"] == "t-1" and stored["guest_id"] == "g-1"
    assert stored["venue_id"] == "v-1" and stored["resource_name"] == "Casa Azul"
    assert stored["reference"].startswith("BK-") and stored["guest"]["email"] == "ana@example.com"
    [(name, data, seq)] = uow.started
    assert (name, seq, data.booking_id) == ("create_booking", 1, booking.id)
    assert (data.check_in, data.check_out, data.timezone) == (
        date(2027, 3, 10),
        date(2027, 3, 12),
        "Europe/Lisbon",
    )
    assert data.holder == "g-1"  # a guest's hold, if any, must be theirs
    assert data.pay_by == NOW + timedelta(seconds=1800) and data.hold_seconds == 2400
    assert uow.quotas_checked == []  # a card payment holds nothing unpaid


async def test_a_slot_booking_carries_the_slots_window_and_staff_hold_for_anyone() -> None:
    uow = MemoryUnitOfWork()
    await open_booking(uow, a_booking(STAFF, slot_id="s-1", hold_id="h-1"), SLOT, TERMS)
    [(_, data, _)] = uow.started
    assert data.slot_id == "s-1" and data.starts_at == SLOT.when["starts_at"]
    assert data.hold_id == "h-1" and data.holder is None


async def test_a_bank_transfer_is_counted_against_the_guests_unpaid_quota() -> None:
    uow = MemoryUnitOfWork()
    await open_booking(uow, a_booking(STAFF, payment_method="bank_transfer"), STAY, TERMS)
    assert uow.quotas_checked == ["g-1"]  # the guest's, not the desk's
