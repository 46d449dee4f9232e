"""The capacity ledger's SQL. Rules (see docs/ARCHITECTURE.md, "Capacity"):

* Nights are always locked in ascending date order (one INSERT ... ORDER BY), so two
  reservations that overlap can wait on each other but never deadlock.
* A reservation's nights are taken in one statement inside a savepoint: either every night
  fits under the CHECK constraint or none is taken.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from inventory.domain.resources import (
    BookingMode,
    InsufficientCapacity,
    ResourceView,
    ensure_bookable,
)
from inventory.domain.rules import AvailabilityRules, claimed_until

_TAKE_NIGHTS = text(
    """
    INSERT INTO capacity_nights (resource_id, night, capacity, reserved)
    SELECT CAST(:rid AS uuid), d::date, :capacity, :quantity
    FROM generate_series(CAST(:check_in AS date), CAST(:check_out AS date) - 1, interval '1 day') AS d
    ORDER BY d
    ON CONFLICT (resource_id, night)
    DO UPDATE SET reserved = capacity_nights.reserved + EXCLUDED.reserved
    """
)

_GIVE_BACK_NIGHTS = text(
    """
    UPDATE capacity_nights SET reserved = reserved - :quantity
    WHERE (resource_id, night) IN (
        SELECT resource_id, night FROM capacity_nights
        WHERE resource_id = CAST(:rid AS uuid) AND night >= :check_in AND night < :check_out
        ORDER BY night
        FOR UPDATE
    )
    """
)


@dataclass(frozen=True)
class Reservation:
    id: str
    booking_id: str
    resource_id: str
    status: str
    check_in: date
    check_out: date
    claimed_until: date
    quantity: int


async def load_resource(conn: AsyncConnection, resource_id: str) -> ResourceView | None:
    try:
        uuid.UUID(resource_id)
    except ValueError:
        return None
    row = (
        await conn.execute(
            text(
                "SELECT id::text, active, booking_mode, capacity, timezone, rules "
                "FROM resources WHERE id = :id"
            ),
            {"id": resource_id},
        )
    ).first()
    if row is None:
        return None
    return ResourceView(
        row.id,
        row.active,
        BookingMode(row.booking_mode),
        row.capacity,
        row.timezone,
        AvailabilityRules.from_json(row.rules),
    )


async def reservation_for_booking(conn: AsyncConnection, booking_id: str) -> Reservation | None:
    row = (
        await conn.execute(
            text(
                "SELECT id::text, booking_id, resource_id::text, status, check_in, check_out, "
                "claimed_until, quantity FROM reservations WHERE booking_id = :b FOR UPDATE"
            ),
            {"b": booking_id},
        )
    ).first()
    return Reservation(*row) if row else None


async def reserve(
    conn: AsyncConnection,
    *,
    booking_id: str,
    resource_id: str,
    check_in: date,
    check_out: date,
    quantity: int,
    now: datetime,
    hold_ttl: timedelta,
    party_size: int | None = None,
) -> Reservation:
    """Hold ``quantity`` units on every night of the stay and its turnover buffer, or raise a
    named rule violation (availability rules included).

    Idempotent per booking: a second reserve for the same booking returns the first hold.
    """
    existing = await reservation_for_booking(conn, booking_id)
    if existing is not None:
        return existing
    resource = ensure_bookable(
        await load_resource(conn, resource_id),
        resource_id,
        quantity,
        stay=(check_in, check_out),
        party_size=party_size,
        now=now,
    )
    until = claimed_until(check_out, resource.rules)
    savepoint = await conn.begin_nested()
    try:
        await conn.execute(
            _TAKE_NIGHTS,
            {
                "rid": resource.id,
                "capacity": resource.capacity,
                "quantity": quantity,
                "check_in": check_in,
                "check_out": until,
            },
        )
    except IntegrityError as exc:
        await savepoint.rollback()
        if "capacity_nights_not_oversold" in str(exc.orig):
            raise InsufficientCapacity(
                f"not enough capacity between {check_in} and {until}"
                + (" (stay and turnover buffer)" if until != check_out else "")
            ) from None
        raise
    await savepoint.commit()
    reservation = Reservation(
        id=str(uuid.uuid4()),
        booking_id=booking_id,
        resource_id=resource.id,
        status="held",
        check_in=check_in,
        check_out=check_out,
        claimed_until=until,
        quantity=quantity,
    )
    await conn.execute(
        text(
            "INSERT INTO reservations (id, booking_id, resource_id, check_in, check_out, "
            "claimed_until, quantity, status, expires_at) "
            "VALUES (:id, :b, :r, :ci, :co, :cu, :q, 'held', :exp)"
        ),
        {
            "id": reservation.id,
            "b": booking_id,
            "r": resource.id,
            "ci": check_in,
            "co": check_out,
            "cu": until,
            "q": quantity,
            "exp": now + hold_ttl,
        },
    )
    return reservation


async def confirm(conn: AsyncConnection, reservation: Reservation) -> bool:
    """held → confirmed; True also when it already was. False when it was released."""
    if reservation.status == "confirmed":
        return True
    if reservation.status != "held":
        return False
    await conn.execute(
        text(
            "UPDATE reservations SET status = 'confirmed', expires_at = NULL, updated_at = now() "
            "WHERE id = :id"
        ),
        {"id": reservation.id},
    )
    return True


async def release(conn: AsyncConnection, reservation: Reservation) -> None:
    """Give the nights back. Releasing a released reservation changes nothing."""
    if reservation.status == "released":
        return
    await conn.execute(
        _GIVE_BACK_NIGHTS,
        {
            "rid": reservation.resource_id,
            "quantity": reservation.quantity,
            "check_in": reservation.check_in,
            "check_out": reservation.claimed_until,
        },
    )
    await conn.execute(
        text("UPDATE reservations SET status = 'released', updated_at = now() WHERE id = :id"),
        {"id": reservation.id},
    )
