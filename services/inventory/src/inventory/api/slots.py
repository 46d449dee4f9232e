"""Timeslots: schedules per resource, slot generation, listing, cancellation, holds on a slot."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import text

from inventory.adapters.ledger import CLAIM_COLUMNS, Claim, Ledger, blackouts_for, load_resource
from inventory.api.availability import PartyIn
from inventory.api.holds import (
    HoldPublic,
    claim_public,
    guest_ttl,
    hold_quota,
    holder_for,
    refusal_problem,
)
from inventory.domain.resources import (
    BookingMode,
    InventoryRuleBroken,
    ResourceView,
    SlotNotFound,
)
from inventory.domain.schedules import InvalidSchedule, Recurrence, Schedule, generate
from inventory.settings import InventorySettings
from service_kit.auth import Caller, Principal, Staff
from service_kit.clock import db_now
from service_kit.fields import PathId, Weekdays
from service_kit.problems import Problem, uuid_or
from service_kit.ratelimit import RATE_LIMITED
from service_kit.runtime import Wiring


class ScheduleIn(BaseModel):
    """Either ``start_time`` + ``duration_minutes`` (one slot a day) or ``work_start`` +
    ``work_end`` + ``slot_minutes`` (working hours split into slots). Local times."""

    model_config = ConfigDict(extra="forbid")

    recurrence: Recurrence
    valid_from: date
    valid_until: date | None = None
    capacity: int | None = Field(
        default=None, ge=1, le=100_000, description="default: the resource's"
    )
    weekdays: Weekdays | None = None
    rrule: str | None = Field(default=None, max_length=500)
    start_time: time | None = None
    duration_minutes: int | None = None
    work_start: time | None = None
    work_end: time | None = None
    slot_minutes: int | None = None


class SchedulePublic(BaseModel):
    id: str
    resource_id: str
    spec: dict[str, Any]


class GenerateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: date
    end: date = Field(description="exclusive")

    @model_validator(mode="after")
    def _range(self) -> GenerateIn:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if (self.end - self.start).days > 366:
            raise ValueError("generate at most 366 days at a time")
        return self


class Generated(BaseModel):
    created: int
    already_there: int
    skipped_blackout_days: list[date]


class SlotPublic(BaseModel):
    id: str
    resource_id: str
    starts_at: datetime
    ends_at: datetime
    capacity: int
    reserved: int
    available: int
    status: str
    cancel_reason: str | None


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str = Field(min_length=1, max_length=500)


class Cancelled(BaseModel):
    slot: SlotPublic
    affected_claims: list[HoldPublic]


class SlotHoldIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    party: PartyIn
    holder: str | None = Field(
        default=None, min_length=1, max_length=200, description="default: the caller"
    )
    ttl_seconds: int | None = Field(default=None, ge=1, le=24 * 3600)


# Seats taken, not counting holds that expired but were not swept yet.
_SLOT_COLUMNS = """
s.id::text, s.resource_id::text, s.starts_at, s.ends_at, s.capacity, s.status, s.cancel_reason,
s.reserved - COALESCE((SELECT sum(c.quantity) FROM reservations c WHERE c.slot_id = s.id
  AND c.status = 'held' AND c.expires_at <= now()), 0) AS reserved
"""


def _slot_public(row: Any) -> SlotPublic:
    free = row.capacity - row.reserved if row.status == "open" else 0
    return SlotPublic(**row._mapping, available=free)


def router(wiring: Wiring, ledger: Ledger) -> APIRouter:
    api = APIRouter(prefix="/api/v1", tags=["timeslots"])
    engine = wiring.engine
    settings = wiring.settings
    assert isinstance(settings, InventorySettings)

    def resource_missing(rid: str) -> Problem:
        return Problem(404, "resource-not-found", "Resource not found", f"No resource {rid}.")

    def slot_missing(sid: str) -> Problem:
        return Problem(404, "slot-not-found", "Slot not found", f"No slot {sid}.")

    async def timeslot_resource(conn: Any, resource_id: str, who: Principal) -> ResourceView:
        resource = await load_resource(
            conn, uuid_or(resource_id, resource_missing(resource_id)), tenant=who.tenant
        )
        if resource is None:
            raise resource_missing(resource_id)
        if resource.booking_mode is not BookingMode.TIMESLOT:
            raise Problem(
                422,
                "not-a-timeslot-resource",
                "Not a timeslot resource",
                "Schedules and slots belong to resources booked by timeslot.",
            )
        return resource

    @api.post("/resources/{resource_id}/schedules", status_code=201, response_model=SchedulePublic)
    async def create_schedule(resource_id: PathId, body: ScheduleIn, who: Staff) -> SchedulePublic:
        async with engine.begin() as conn:
            resource = await timeslot_resource(conn, resource_id, who)
            doc = body.model_dump()
            doc["capacity"] = body.capacity or resource.capacity
            try:
                schedule = Schedule.from_json(doc)
            except InvalidSchedule as exc:
                raise Problem(422, "invalid-schedule", "Invalid schedule", str(exc)) from None
            schedule_id = str(uuid.uuid4())
            await conn.execute(
                text(
                    "INSERT INTO schedules (id, resource_id, spec) VALUES (:id, :r, CAST(:s AS jsonb))"
                ),
                {"id": schedule_id, "r": resource.id, "s": json.dumps(schedule.to_json())},
            )
        return SchedulePublic(id=schedule_id, resource_id=resource.id, spec=schedule.to_json())

    @api.post("/resources/{resource_id}/slots/generate", response_model=Generated)
    async def generate_slots(resource_id: PathId, body: GenerateIn, who: Staff) -> Generated:
        """Create the slots of every schedule of the resource in [start, end). Idempotent:
        slots that exist are left alone. Blacked-out days get no slots."""
        if body.start < datetime.now(UTC).date() - timedelta(days=1):
            raise Problem(422, "date-in-past", "Range in the past", "start is in the past.")
        async with engine.begin() as conn:
            resource = await timeslot_resource(conn, resource_id, who)
            specs = await conn.execute(
                text("SELECT id::text, spec FROM schedules WHERE resource_id = CAST(:r AS uuid)"),
                {"r": resource.id},
            )
            blackouts = await blackouts_for(conn, resource, body.start, body.end)
            skip = frozenset(
                d
                for b in blackouts
                for d in (
                    b.starts_on + timedelta(days=i) for i in range((b.ends_on - b.starts_on).days)
                )
                if body.start <= d < body.end
            )
            created = existing = 0
            for schedule_id, spec in specs.all():
                schedule = Schedule.from_json(spec)
                for slot in generate(schedule, body.start, body.end, resource.timezone, skip):
                    inserted = await conn.execute(
                        text(
                            "INSERT INTO slots (id, resource_id, schedule_id, starts_at, ends_at, "
                            "capacity) VALUES (:id, :r, :s, :a, :b, :c) "
                            "ON CONFLICT (resource_id, starts_at) DO NOTHING RETURNING 1"
                        ),
                        {
                            "id": str(uuid.uuid4()),
                            "r": resource.id,
                            "s": schedule_id,
                            "a": slot.starts_at,
                            "b": slot.ends_at,
                            "c": schedule.capacity,
                        },
                    )
                    if inserted.first() is None:
                        existing += 1
                    else:
                        created += 1
        return Generated(
            created=created, already_there=existing, skipped_blackout_days=sorted(skip)
        )

    @api.get("/resources/{resource_id}/slots", response_model=list[SlotPublic])
    async def list_slots(
        resource_id: PathId, start: date, end: date, who: Caller
    ) -> list[SlotPublic]:
        """The slots starting in [start, end) (UTC dates), with the seats still free."""
        if end <= start or (end - start).days > 92:
            raise Problem(422, "bad-range", "Bad date range", "end after start, at most 92 days.")
        async with engine.connect() as conn:
            resource = await timeslot_resource(conn, resource_id, who)
            rows = await conn.execute(
                text(
                    f"SELECT {_SLOT_COLUMNS} FROM slots s WHERE s.resource_id = CAST(:r AS uuid) "
                    "AND s.starts_at >= :a AND s.starts_at < :b ORDER BY s.starts_at"
                ),
                {
                    "r": resource.id,
                    "a": datetime.combine(start, time(), UTC),
                    "b": datetime.combine(end, time(), UTC),
                },
            )
            return [_slot_public(r) for r in rows]

    @api.get("/slots/{slot_id}", response_model=SlotPublic)
    async def get_slot(slot_id: PathId, who: Caller) -> SlotPublic:
        """One slot of the caller's tenant, with the seats still free."""
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    text(
                        f"SELECT {_SLOT_COLUMNS} FROM slots s WHERE s.id = CAST(:id AS uuid) "
                        "AND s.resource_id IN (SELECT id FROM resources WHERE tenant_id = :t)"
                    ),
                    {"id": uuid_or(slot_id, slot_missing(slot_id)), "t": who.tenant},
                )
            ).first()
        if row is None:
            raise slot_missing(slot_id)
        return _slot_public(row)

    @api.post("/slots/{slot_id}/cancel", response_model=Cancelled)
    async def cancel_slot(slot_id: PathId, body: CancelIn, who: Staff) -> Cancelled:
        """Cancel a slot with a reason. Its claims are listed for staff to act on (a booking is
        cancelled through the booking service, which releases its seats)."""
        async with engine.begin() as conn:
            row = (
                await conn.execute(
                    text(
                        "UPDATE slots SET status = 'cancelled', cancel_reason = :why "
                        "WHERE id = CAST(:id AS uuid) AND resource_id IN "
                        "(SELECT id FROM resources WHERE tenant_id = :t) RETURNING id"
                    ),
                    {
                        "id": uuid_or(slot_id, slot_missing(slot_id)),
                        "t": who.tenant,
                        "why": body.reason,
                    },
                )
            ).first()
            if row is None:
                raise slot_missing(slot_id)
            slot = (
                await conn.execute(
                    text(f"SELECT {_SLOT_COLUMNS} FROM slots s WHERE s.id = CAST(:id AS uuid)"),
                    {"id": slot_id},
                )
            ).one()
            claims = await conn.execute(
                text(
                    f"SELECT {CLAIM_COLUMNS} FROM reservations WHERE slot_id = CAST(:id AS uuid) "
                    "AND status IN ('held', 'confirmed') ORDER BY id"
                ),
                {"id": slot_id},
            )
            affected = [claim_public(Claim(*c)) for c in claims]
        return Cancelled(slot=_slot_public(slot), affected_claims=affected)

    @api.post(
        "/slots/{slot_id}/holds",
        status_code=201,
        response_model=HoldPublic,
        dependencies=[RATE_LIMITED],
    )
    async def hold_slot(
        slot_id: PathId, body: SlotHoldIn, response: Response, who: Caller
    ) -> HoldPublic:
        """Hold seats of a slot for the party. 409 when fewer seats are left or the guest
        already holds their quota; 422 when a guest asks for more than 15 minutes."""
        party = body.party.size
        ttl = guest_ttl(settings, who, body.ttl_seconds)
        holder = holder_for(who, body.holder)
        try:
            async with engine.begin() as conn:
                await hold_quota(settings).enforce(conn, who, holder)
                claim = await ledger.claim_slot(
                    conn,
                    slot_id=uuid_or(slot_id, slot_missing(slot_id)),
                    quantity=party,
                    now=await db_now(conn),
                    ttl=ttl,
                    holder=holder,
                    tenant=who.tenant,
                )
        except SlotNotFound:
            raise slot_missing(slot_id) from None
        except InventoryRuleBroken as refused:
            raise refusal_problem(refused) from None
        response.headers["Location"] = f"/api/v1/holds/{claim.id}"
        return claim_public(claim)

    return api
