"""What every use case on an existing booking checks first: that the caller may see it (404
otherwise, the same as an id that does not exist), that it is still at the version the caller
read (``If-Match``), and the refusals shared by several commands."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from booking.adapters import repository
from booking.domain.booking import IllegalTransition
from service_kit.auth import Principal
from service_kit.ids import canonical_uuid
from service_kit.problems import Problem


def not_found(booking_id: str) -> Problem:
    return Problem(404, "booking-not-found", "Booking not found", f"No booking {booking_id}.")


def entry_not_found(entry_id: str) -> Problem:
    return Problem(404, "waitlist-entry-not-found", "Not found", f"No waitlist entry {entry_id}.")


def check_entry_visible(entry: Row[Any] | None, entry_id: str, who: Principal) -> Row[Any]:
    """A waitlist entry (read within the caller's tenant) the caller may see: staff their
    tenant's, a guest their own; anything else is 404."""
    if entry is None or (not who.is_staff and entry.guest_id != who.subject):
        raise entry_not_found(entry_id)
    return entry


def etag(version: int) -> str:
    return f'"{version}"'


def check_visible(booking: Row[Any] | None, booking_id: str, who: Principal) -> Row[Any]:
    """``booking`` (read within the caller's tenant), if the caller may see it: staff see their
    tenant's, a guest only their own. Anything else is the same 404 as an id that does not
    exist."""
    if booking is None or (not who.is_staff and booking.guest_id != who.subject):
        raise not_found(booking_id)
    return booking


async def visible(
    conn: AsyncConnection, booking_id: str, who: Principal, *, lock: bool = False
) -> Row[Any]:
    """The booking, if the caller may see it (:func:`check_visible`)."""
    canonical = canonical_uuid(booking_id)
    row = (
        await repository.load(conn, canonical, lock=lock, tenant=who.tenant) if canonical else None
    )
    return check_visible(row, booking_id, who)


def check_if_match(if_match: str | None, row: Row[Any], *, required: bool) -> None:
    """Optimistic locking: ``If-Match`` must name the booking's current version (its ETag)."""
    if if_match is None:
        if required:
            raise Problem(
                428,
                "precondition-required",
                "If-Match required",
                "Send If-Match with the booking's ETag (its version) to change it.",
            )
        return
    tags = {t.strip().removeprefix("W/") for t in if_match.split(",")}
    if "*" not in tags and etag(row.version) not in tags:
        raise Problem(
            412,
            "version-mismatch",
            "The booking changed",
            f"The booking is at version {row.version}; read it again and retry.",
            current_version=row.version,
        )


def illegal(exc: IllegalTransition) -> Problem:
    return Problem(
        409,
        "illegal-transition",
        "Not possible in this status",
        f"A {exc.current.value} booking cannot become {exc.wanted.value}.",
        current_status=exc.current.value,
        allowed=[s.value for s in exc.allowed],
    )


def busy() -> Problem:
    return Problem(
        409,
        "booking-busy",
        "Another change is in progress",
        "The booking has an operation in progress; try again when it has finished.",
        headers={"Retry-After": "1"},
    )


@contextmanager
def status_machine() -> Iterator[None]:
    """A transition the status machine forbids is a 409 naming the allowed ones."""
    try:
        yield
    except IllegalTransition as exc:
        raise illegal(exc) from None
