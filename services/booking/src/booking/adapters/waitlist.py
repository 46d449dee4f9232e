"""The waitlist: guests waiting for capacity of a resource (dates) or a slot.

How an offer is made:

* When capacity is released (``inventory.capacity_released``) or an entry joins, the waiting
  entries it could serve are asked for, best first (priority, then age), in one batch of
  ``ReserveCapacity`` commands with ``hold_only``: a hold for the guest, for the offer window.
* The commands are keyed by resource id, so inventory takes them in that order on one
  partition: the first entries that fit get the capacity, a party too big for what was freed
  is passed over for the next one that fits.
* Each hold's key is the entry's (``waitlist:<entry>``): asking again for an entry that has its
  hold answers the same hold, never a second one.
* An offer that is not accepted in time expires: its hold is released, which is a release like
  any other, so the capacity goes to the next entry.
"""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncConnection

from contracts.booking import WaitlistOffered, WaitlistOfferExpired
from contracts.common import Party, StayPeriod
from contracts.inventory import (
    CapacityReservationRejected,
    CapacityReserved,
    ReleaseCapacity,
    ReserveCapacity,
)
from contracts.topics import BOOKING_EVENTS, INVENTORY_COMMANDS
from messaging.outbox import Outbox
from service_kit.clock import db_now

OFFER_STEP = "waitlist_offer"
RELEASE_STEP = "waitlist_release"
BATCH = 50  # entries asked for per release, at most

COLUMNS = (
    "id::text, tenant_id, guest_id, resource_id, slot_id, check_in, check_out, party, priority, "
    "contact, status, hold_id, offer_expires_at, booking_id::text, created_at, updated_at"
)


def claim_key(entry_id: str) -> str:
    return f"waitlist:{entry_id}"


async def insert(conn: AsyncConnection, values: dict[str, Any]) -> Row[Any]:
    return (
        await conn.execute(
            text(
                "INSERT INTO waitlist_entries (id, tenant_id, guest_id, resource_id, slot_id, "
                "check_in, check_out, party, priority, contact, status) VALUES (:id, :tenant_id, "
                ":guest_id, :resource_id, :slot_id, :check_in, :check_out, CAST(:party AS jsonb), "
                f":priority, CAST(:contact AS jsonb), 'waiting') RETURNING {COLUMNS}"
            ),
            {
                **values,
                "id": str(uuid.uuid4()),
                "party": json.dumps(values["party"]),
                "contact": json.dumps(values["contact"]),
            },
        )
    ).one()


async def load(
    conn: AsyncConnection, entry_id: str, *, tenant: str | None = None, lock: bool = False
) -> Row[Any] | None:
    sql = f"SELECT {COLUMNS} FROM waitlist_entries WHERE id = CAST(:id AS uuid)"
    if tenant is not None:
        sql += " AND tenant_id = :t"
    return (
        await conn.execute(
            text(sql + (" FOR UPDATE" if lock else "")), {"id": entry_id, "t": tenant}
        )
    ).first()


async def listed(
    conn: AsyncConnection,
    *,
    tenant: str,
    guest_id: str | None,
    resource_id: str | None,
    statuses: list[str] | None,
    limit: int,
) -> list[Row[Any]]:
    """A tenant's entries (a guest's, when given), in queue order."""
    rows = await conn.execute(
        text(
            f"SELECT {COLUMNS} FROM waitlist_entries WHERE tenant_id = :t "
            "AND (CAST(:g AS text) IS NULL OR guest_id = :g) "
            "AND (CAST(:r AS text) IS NULL OR resource_id = :r) "
            "AND (CAST(:s AS text[]) IS NULL OR status = ANY(CAST(:s AS text[]))) "
            "ORDER BY priority DESC, created_at, id LIMIT :n"
        ),
        {"t": tenant, "g": guest_id, "r": resource_id, "s": statuses, "n": limit},
    )
    return list(rows.all())


async def update(conn: AsyncConnection, entry_id: str, **changes: Any) -> Row[Any]:
    sets = ", ".join(f"{k} = :{k}" for k in changes)
    return (
        await conn.execute(
            text(
                f"UPDATE waitlist_entries SET {sets}, updated_at = now() "
                f"WHERE id = CAST(:id AS uuid) RETURNING {COLUMNS}"
            ),
            {**changes, "id": entry_id},
        )
    ).one()


async def waiting_for(
    conn: AsyncConnection, resource_id: str, slot_id: str | None, start: date, end: date
) -> list[Row[Any]]:
    """Waiting entries the capacity released on ``resource_id`` could serve, best first."""
    rows = await conn.execute(
        text(
            f"SELECT {COLUMNS} FROM waitlist_entries WHERE resource_id = :r AND status = 'waiting' "
            "AND ((CAST(:s AS text) IS NOT NULL AND slot_id = :s) OR (CAST(:s AS text) IS NULL "
            "AND slot_id IS NULL AND check_in < :end AND check_out > :start)) "
            "ORDER BY priority DESC, created_at, id LIMIT :n"
        ),
        {"r": resource_id, "s": slot_id, "start": start, "end": end, "n": BATCH},
    )
    return list(rows.all())


async def ask_for_offers(
    conn: AsyncConnection, outbox: Outbox, entries: list[Row[Any]], offer_s: float
) -> None:
    """One hold request per entry, in queue order, on the resource's partition."""
    for entry in entries:
        await outbox.add(
            conn,
            topic=INVENTORY_COMMANDS,
            key=entry.resource_id,
            message=ReserveCapacity(
                booking_id=entry.id,
                step=OFFER_STEP,
                resource_id=entry.resource_id,
                period=StayPeriod(check_in=entry.check_in, check_out=entry.check_out),
                party_size=Party(**entry.party).size,
                slot_id=entry.slot_id,
                claim_key=claim_key(entry.id),
                holder=entry.guest_id,
                hold_seconds=int(offer_s),
                tenant_id=entry.tenant_id,
                hold_only=True,
            ),
        )


async def release_hold(conn: AsyncConnection, outbox: Outbox, entry: Row[Any]) -> None:
    await outbox.add(
        conn,
        topic=INVENTORY_COMMANDS,
        key=entry.resource_id,
        message=ReleaseCapacity(
            booking_id=entry.id,
            step=RELEASE_STEP,
            claim_key=claim_key(entry.id),
            tenant_id=entry.tenant_id,
        ),
    )


async def on_offer_reply(
    conn: AsyncConnection,
    outbox: Outbox,
    reply: CapacityReserved | CapacityReservationRejected,
    offer_s: float,
) -> None:
    """Inventory's answer to a hold request: the entry is offered the hold, or keeps waiting.
    A hold that arrives for an entry no longer waiting (cancelled meanwhile) is released."""
    entry = await load(conn, reply.booking_id, lock=True)
    if entry is None or not isinstance(reply, CapacityReserved):
        return
    if entry.status != "waiting":
        if entry.hold_id != reply.reservation_id and entry.status != "accepted":
            await release_hold(conn, outbox, entry)
        return
    now = await db_now(conn)
    expires = reply.expires_at or now + timedelta(seconds=offer_s)
    entry = await update(
        conn, entry.id, status="offered", hold_id=reply.reservation_id, offer_expires_at=expires
    )
    await outbox.add(
        conn,
        topic=BOOKING_EVENTS,
        key=entry.id,
        message=WaitlistOffered(
            entry_id=entry.id,
            tenant_id=entry.tenant_id,
            resource_id=entry.resource_id,
            occurred_at=now,
            hold_id=reply.reservation_id,
            expires_at=expires,
            guest_id=entry.guest_id,
            contact_email=(entry.contact or {}).get("email"),
            contact_name=(entry.contact or {}).get("name"),
            locale=(entry.contact or {}).get("locale"),
        ),
    )


async def due_offers(conn: AsyncConnection, now: datetime, limit: int = 200) -> list[str]:
    """Offers past their window (not locked), but not those an earlier sweep set aside."""
    rows = await conn.execute(
        text(
            "SELECT id::text FROM waitlist_entries WHERE status = 'offered' "
            "AND offer_expires_at <= :now AND expiry_error IS NULL "
            "ORDER BY offer_expires_at LIMIT :n"
        ),
        {"now": now, "n": limit},
    )
    return [r[0] for r in rows]


async def expire_offer(conn: AsyncConnection, outbox: Outbox, entry_id: str, now: datetime) -> bool:
    """An offer past its window: expired, its hold released (the capacity then goes to the
    next entry). An entry another replica is expiring is skipped."""
    entry = (
        await conn.execute(
            text(
                f"SELECT {COLUMNS} FROM waitlist_entries WHERE id = CAST(:id AS uuid) "
                "AND status = 'offered' AND offer_expires_at <= :now FOR UPDATE SKIP LOCKED"
            ),
            {"id": entry_id, "now": now},
        )
    ).first()
    if entry is None:
        return False
    await update(conn, entry.id, status="expired")
    await release_hold(conn, outbox, entry)
    await outbox.add(
        conn,
        topic=BOOKING_EVENTS,
        key=entry.id,
        message=WaitlistOfferExpired(
            entry_id=entry.id,
            tenant_id=entry.tenant_id,
            resource_id=entry.resource_id,
            occurred_at=now,
            hold_id=entry.hold_id,
        ),
    )
    return True


async def set_expiry_aside(conn: AsyncConnection, entry_id: str, why: str) -> None:
    await conn.execute(
        text("UPDATE waitlist_entries SET expiry_error = :why WHERE id = CAST(:id AS uuid)"),
        {"id": entry_id, "why": why},
    )
