"""Opening a booking: the row, its first history entry and ``booking.created``, and the create
saga's first command, in the caller's transaction. Shared by ``POST /bookings`` and an accepted
waitlist offer (which books with the offer's hold)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from booking.adapters import lifecycle, orchestrator, repository
from booking.adapters.orchestrator import Timing
from booking.api.schemas import BookingCreate
from booking.domain.booking import BookingStatus
from booking.domain.reference import new_reference
from booking.domain.saga_data import SagaData
from booking.domain.saga_engine import start
from booking.domain.sagas import CREATE_BOOKING
from booking.settings import BookingSettings
from messaging.outbox import Outbox
from service_kit.audit import Actor
from service_kit.auth import Principal
from service_kit.clock import db_now
from service_kit.quotas import GuestQuota

BANK_TRANSFER = "bank_transfer"


def unpaid_quota(settings: BookingSettings) -> GuestQuota:
    """Bank-transfer bookings a guest has not paid yet (each holds capacity until its
    deadline): at most BOOKING_GUEST_MAX_UNPAID_BOOKINGS (409 unpaid-booking-quota-exceeded)."""
    return GuestQuota(
        name="unpaid-booking",
        limit=settings.guest_max_unpaid_bookings,
        count_sql=(
            "SELECT count(*) FROM bookings WHERE tenant_id = :tenant AND guest_id = :guest "
            "AND payment_method = 'bank_transfer' AND status IN ('pending', 'awaiting_payment')"
        ),
        what="unpaid bank-transfer bookings",
        remedy="Pay one, or cancel one, first.",
    )


@dataclass(frozen=True)
class Opening:
    outbox: Outbox
    settings: BookingSettings
    timing: Timing

    async def open(
        self,
        conn: AsyncConnection,
        body: BookingCreate,
        *,
        who: Principal,
        actor: Actor,
        guest_id: str,
        place: dict[str, Any],
        when: dict[str, Any],
    ) -> Row[Any]:
        if body.payment_method == BANK_TRANSFER:
            await unpaid_quota(self.settings).enforce(conn, who, guest_id)
        booking_id = str(uuid.uuid4())
        now = await db_now(conn)
        party = body.party.model_dump(mode="json")
        row = await repository.insert_booking(
            conn,
            {
                "id": booking_id,
                "reference": new_reference(now.date()),
                "tenant_id": who.tenant,
                "guest_id": guest_id,
                "venue_id": place["venue_id"],
                "resource_id": body.resource_id,
                "slot_id": body.slot_id,
                "timezone": place["timezone"],
                "resource_name": place.get("name"),
                **when,
                "party": party,
                "guest": body.guest.model_dump(mode="json", exclude={"id"}),
                "special_requests": body.special_requests,
                "dietary_notes": body.dietary_notes,
                "accessibility_notes": body.accessibility_notes,
                "payment_method": body.payment_method,
                "hold_id": body.hold_id,
                "status": BookingStatus.PENDING.value,
            },
        )
        await lifecycle.created(conn, self.outbox, row, actor)
        data = SagaData(
            booking_id=booking_id,
            resource_id=body.resource_id,
            check_in=when["check_in"],
            check_out=when["check_out"],
            party=party,
            payment_method=body.payment_method,
            tenant_id=who.tenant,
            venue_id=place["venue_id"],
            slot_id=body.slot_id,
            starts_at=when["starts_at"],
            ends_at=when["ends_at"],
            timezone=place["timezone"],
            hold_id=body.hold_id,
            holder=None if who.is_staff else who.subject,
            hold_seconds=self.settings.claim_hold_s,
            pay_by=now + timedelta(seconds=self.settings.payment_deadline_s),
        )
        await orchestrator.begin(
            conn, self.outbox, booking_id, start(CREATE_BOOKING, data), self.timing, now=now
        )
        return row
