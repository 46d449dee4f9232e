"""The waitlist's commands through their use cases on the in-memory unit of work."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from booking_memory_uow import GUEST, NOW, OTHER_GUEST, STAFF, STAY, TERMS, Entry, MemoryUnitOfWork

from booking.usecases.waitlist import (
    AcceptOffer,
    JoinWaitlist,
    LeaveWaitlist,
    accept_offer,
    join_waitlist,
    leave_waitlist,
)
from contracts.booking import WaitlistOfferAccepted
from service_kit.audit import Actor
from service_kit.auth import Principal
from service_kit.problems import Problem


def joining(who: Principal, guest_id: str | None = None, priority: int = 0) -> JoinWaitlist:
    return JoinWaitlist(
        who=who,
        guest_id=guest_id,
        resource_id="r-1",
        slot_id=None,
        check_in=date(2027, 3, 10),
        check_out=date(2027, 3, 12),
        party={"adults": 2},
        priority=priority,
        contact={"name": "Ana", "email": "ana@example.com"},
    )


async def test_joining_stores_a_waiting_entry_and_asks_inventory_for_an_offer() -> None:
    uow = MemoryUnitOfWork()
    entry = await join_waitlist(uow, joining(GUEST), offer_s=900)
    assert entry.status == "waiting" and entry.guest_id == "g-1" and entry.tenant_id == "t-1"
    assert uow.offers_asked == [entry.id] and uow.quotas_checked == ["g-1"]


@pytest.mark.parametrize(
    ("command", "detail"),
    [
        (joining(GUEST, priority=5), "Priority is set by staff"),
        (joining(GUEST, guest_id="g-2"), "only in their own name"),
    ],
)
async def test_a_guest_waits_in_their_own_name_without_priority(
    command: JoinWaitlist, detail: str
) -> None:
    uow = MemoryUnitOfWork()
    with pytest.raises(Problem, match=detail) as caught:
        await join_waitlist(uow, command, offer_s=900)
    assert caught.value.status == 403 and not uow.changed and uow.quotas_checked == []


async def test_staff_put_anyone_on_the_list_with_a_priority() -> None:
    uow = MemoryUnitOfWork()
    entry = await join_waitlist(uow, joining(STAFF, guest_id="g-7", priority=5), offer_s=900)
    assert (entry.guest_id, entry.priority) == ("g-7", 5)


async def test_leaving_with_an_open_offer_gives_its_hold_back() -> None:
    uow = MemoryUnitOfWork()
    uow.entries["e-1"] = Entry(id="e-1", status="offered", hold_id="h-1")
    left = await leave_waitlist(uow, LeaveWaitlist(entry_id="e-1", who=GUEST))
    assert left.status == "cancelled" and uow.offers_released == ["e-1"]


@pytest.mark.parametrize("status", ["accepted", "expired", "cancelled"])
async def test_a_closed_entry_cannot_be_left(status: str) -> None:
    uow = MemoryUnitOfWork()
    uow.entries["e-1"] = Entry(id="e-1", status=status)
    with pytest.raises(Problem) as caught:
        await leave_waitlist(uow, LeaveWaitlist(entry_id="e-1", who=GUEST))
    assert (caught.value.status, caught.value.type) == (409, "waitlist-entry-closed")
    assert not uow.changed


async def test_another_guests_entry_is_not_found() -> None:
    uow = MemoryUnitOfWork()
    uow.entries["e-1"] = Entry(id="e-1")
    with pytest.raises(Problem) as caught:
        await leave_waitlist(uow, LeaveWaitlist(entry_id="e-1", who=OTHER_GUEST))
    assert (caught.value.status, caught.value.type) == (404, "waitlist-entry-not-found")


def accepting(who: Principal = GUEST) -> AcceptOffer:
    return AcceptOffer(entry_id="e-1", who=who, actor=Actor(who.subject), payment_method="pm_x")


async def test_accepting_an_open_offer_books_with_its_hold_and_announces_it() -> None:
    uow = MemoryUnitOfWork()
    offered = Entry(
        id="e-1", status="offered", hold_id="h-1", offer_expires_at=NOW + timedelta(minutes=5)
    )
    uow.entries["e-1"] = offered
    booking = await accept_offer(uow, accepting(), STAY, TERMS)
    [stored] = uow.created
    assert stored["hold_id"] == "h-1" and stored["guest_id"] == "g-1"
    assert stored["guest"] == offered.contact and stored["payment_method"] == "pm_x"
    [(name, data, _)] = uow.started
    assert name == "create_booking" and data.hold_id == "h-1" and data.holder == "g-1"
    assert uow.entries["e-1"].status == "accepted"
    assert uow.entries["e-1"].booking_id == booking.id
    [event] = uow.announced
    assert isinstance(event, WaitlistOfferAccepted) and event.booking_id == booking.id


@pytest.mark.parametrize(
    "entry",
    [
        Entry(id="e-1", status="waiting"),
        Entry(id="e-1", status="offered", hold_id="h-1", offer_expires_at=NOW),  # just expired
        Entry(id="e-1", status="accepted", booking_id="b-9"),
    ],
)
async def test_there_is_nothing_to_accept_without_an_open_offer(entry: Entry) -> None:
    uow = MemoryUnitOfWork()
    uow.entries["e-1"] = entry
    with pytest.raises(Problem) as caught:
        await accept_offer(uow, accepting(), STAY, TERMS)
    assert (caught.value.status, caught.value.type) == (409, "no-open-offer")
    assert caught.value.extensions["booking_id"] == entry.booking_id and not uow.changed
