"""Changing a booking's details, through its use case on the in-memory unit of work."""

from __future__ import annotations

import pytest
from booking_memory_uow import GUEST, Booking, MemoryUnitOfWork

from booking.domain.booking import BookingStatus
from booking.usecases.update_details import UpdateDetails, update_details
from service_kit.audit import Actor
from service_kit.problems import Problem


def details(**fields: object) -> UpdateDetails:
    fields.setdefault("if_match", '"1"')
    return UpdateDetails(booking_id="b-1", who=GUEST, actor=Actor("g-1"), **fields)  # type: ignore[arg-type]


async def test_contact_fields_merge_and_notes_replace() -> None:
    uow = MemoryUnitOfWork()
    uow.add(Booking(id="b-1", special_requests="late arrival"))
    command = details(guest={"name": "Ana Sousa"}, notes={"dietary_notes": "vegan"})
    updated = await update_details(uow, command)
    assert updated.guest == {"name": "Ana Sousa", "email": "ana@example.com", "locale": None}
    assert updated.dietary_notes == "vegan" and updated.special_requests == "late arrival"
    assert updated.version == 2 and uow.updated == [("b-1", ("guest", "notes"))]


async def test_a_note_alone_is_a_notes_change() -> None:
    uow = MemoryUnitOfWork()
    uow.add(Booking(id="b-1", special_requests="late arrival"))
    updated = await update_details(uow, details(notes={"special_requests": None}))
    assert updated.special_requests is None and uow.updated == [("b-1", ("notes",))]


@pytest.mark.parametrize(
    ("booking", "command", "expected"),
    [
        (Booking(id="b-1"), details(if_match=None, notes={"dietary_notes": "x"}), 428),
        (Booking(id="b-1", version=2), details(notes={"dietary_notes": "x"}), 412),
        (Booking(id="b-1"), details(), 422),
        (
            Booking(id="b-1", status=BookingStatus.COMPLETED.value),
            details(notes={"dietary_notes": "x"}),
            409,
        ),
        (
            Booking(id="b-1", status=BookingStatus.REFUNDED.value),
            details(guest={"name": "B"}),
            409,
        ),
    ],
)
async def test_refused_changes_leave_the_booking_as_it_was(
    booking: Booking, command: UpdateDetails, expected: int
) -> None:
    uow = MemoryUnitOfWork()
    uow.add(booking)
    with pytest.raises(Problem) as caught:
        await update_details(uow, command)
    assert caught.value.status == expected
    assert not uow.changed and uow.bookings["b-1"] == booking
