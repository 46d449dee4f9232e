"""Inventory REST: resources (admin) and their remaining capacity."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from inventory.adapters.ledger import effective_reserved
from inventory.domain.resources import UnknownTimezone, validate_timezone
from inventory.domain.rules import AvailabilityRules, InvalidRules
from service_kit import audit
from service_kit.audit import AuditEntry
from service_kit.auth import Caller, Principal, Staff
from service_kit.clock import db_now
from service_kit.fields import PathId, Weekdays
from service_kit.pagination import Cursor, cursor_id, set_next_link
from service_kit.problems import Problem, uuid_or
from service_kit.runtime import Wiring

ResourceKind = Literal[
    "property", "room", "table", "tour", "meeting_room", "treatment_room", "staff", "service"
]


class RulesIn(BaseModel):
    """Availability rules of a resource. Omitted fields take the defaults shown."""

    model_config = ConfigDict(extra="forbid")

    min_stay_nights: int = Field(default=1, ge=1, le=365)
    max_stay_nights: int | None = Field(default=None, ge=1, le=365)
    buffer_days: int = Field(default=0, ge=0, le=30)
    buffer_minutes: int = Field(
        default=0, ge=0, le=720, description="around slots of exclusive units"
    )
    check_in_weekdays: Weekdays | None = Field(
        default=None, description="allowed check-in weekdays, 0 = Monday; null = any"
    )
    check_out_weekdays: Weekdays | None = Field(default=None, description="0 = Monday")
    booking_horizon_days: int | None = Field(default=None, ge=1, le=3660)
    min_notice_hours: int = Field(default=0, ge=0, le=24 * 365)
    min_party: int = Field(default=1, ge=1, le=1000)
    max_party: int | None = Field(default=None, ge=1, le=1000)
    check_in_time: time = Field(
        default=time(15, 0), description="local time in the resource's zone"
    )

    def to_domain(self) -> AvailabilityRules:
        try:
            return AvailabilityRules.from_json(self.model_dump())
        except InvalidRules as exc:
            raise Problem(422, "invalid-rules", "Invalid availability rules", str(exc)) from None


class ResourceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    booking_mode: Literal["nightly", "timeslot"] = "nightly"
    capacity: int = Field(ge=1, le=100_000)
    timezone: str = Field(min_length=1, max_length=64)
    kind: ResourceKind = "property"
    venue_id: str | None = Field(default=None, min_length=1, max_length=64)
    group_id: str | None = Field(default=None, max_length=64, description="a resource group")
    rules: RulesIn = Field(default_factory=RulesIn)


class ResourceUpdate(BaseModel):
    """Fields to change; omitted ones stay as they are."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    capacity: int | None = Field(default=None, ge=1, le=100_000)
    active: bool | None = None
    venue_id: str | None = Field(default=None, min_length=1, max_length=64)


class ResourcePublic(BaseModel):
    id: str
    name: str
    kind: str
    booking_mode: str
    capacity: int
    timezone: str
    venue_id: str | None
    group_id: str | None
    active: bool
    rules: dict[str, Any]
    created_at: datetime


class NightAvailability(BaseModel):
    night: date
    capacity: int
    reserved: int
    available: int


_COLUMNS = (
    "id::text, name, kind, booking_mode, capacity, timezone, venue_id, group_id::text, active, "
    "rules, created_at"
)


def _public(row: Any) -> ResourcePublic:
    data = dict(row._mapping)
    data["rules"] = AvailabilityRules.from_json(data["rules"]).to_json()  # defaults filled in
    return ResourcePublic(**data)


async def _resource(
    conn: AsyncConnection, resource_id: str, who: Principal, *, lock: bool = False
) -> Any:
    """The tenant's resource row (locked for a change, with ``lock``), or 404."""
    row = (
        await conn.execute(
            text(
                f"SELECT {_COLUMNS} FROM resources WHERE id = CAST(:id AS uuid) "
                "AND tenant_id = :t" + (" FOR UPDATE" if lock else "")
            ),
            {"id": _uuid_or_404(resource_id), "t": who.tenant},
        )
    ).first()
    if row is None:
        raise _not_found(resource_id)
    return row


def router(wiring: Wiring) -> APIRouter:
    api = APIRouter(prefix="/api/v1", tags=["inventory"])
    engine = wiring.engine

    @api.post("/resources", status_code=201, response_model=ResourcePublic)
    async def create_resource(
        body: ResourceCreate, request: Request, response: Response, who: Staff
    ) -> ResourcePublic:
        """Create a resource of the caller's tenant (staff)."""
        try:
            tz = validate_timezone(body.timezone)
        except UnknownTimezone as exc:
            raise Problem(422, "unknown-timezone", "Unknown timezone", str(exc)) from None
        rules = body.rules.to_domain()
        resource_id = str(uuid.uuid4())
        async with engine.begin() as conn:
            group_id = None
            if body.group_id is not None:
                unknown = Problem(
                    422, "unknown-group", "Unknown resource group", f"No group {body.group_id}."
                )
                group_id = uuid_or(body.group_id, unknown)
                found = await conn.execute(
                    text(
                        "SELECT 1 FROM resource_groups WHERE id = CAST(:g AS uuid) AND tenant_id = :t"
                    ),
                    {"g": group_id, "t": who.tenant},
                )
                if found.first() is None:
                    raise unknown
            row = (
                await conn.execute(
                    text(
                        "INSERT INTO resources (id, tenant_id, name, kind, booking_mode, capacity, "
                        "timezone, venue_id, group_id, rules) VALUES (:id, :t, :name, :kind, :mode, "
                        f":cap, :tz, :venue, CAST(:group AS uuid), CAST(:rules AS jsonb)) "
                        f"RETURNING {_COLUMNS}"
                    ),
                    {
                        "id": resource_id,
                        "t": who.tenant,
                        "name": body.name,
                        "kind": body.kind,
                        "mode": body.booking_mode,
                        "cap": body.capacity,
                        "tz": tz,
                        "venue": body.venue_id,
                        "group": group_id,
                        "rules": json.dumps(rules.to_json()),
                    },
                )
            ).one()
            created = _public(row)
            await audit.record_change(conn, request, who, "resource", "create", None, created)
        response.headers["Location"] = f"/api/v1/resources/{resource_id}"
        return created

    @api.get("/resources", response_model=list[ResourcePublic])
    async def list_resources(
        request: Request,
        response: Response,
        who: Caller,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        cursor: Cursor = None,
    ) -> list[ResourcePublic]:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text(
                    f"SELECT {_COLUMNS} FROM resources WHERE tenant_id = :t "
                    "AND (CAST(:after AS uuid) IS NULL OR id > CAST(:after AS uuid)) "
                    "ORDER BY id LIMIT :limit"
                ),
                {"t": who.tenant, "after": cursor_id(cursor) if cursor else None, "limit": limit},
            )
            items = [_public(r) for r in rows]
        set_next_link(request, response, items, limit)
        return items

    @api.get("/resources/{resource_id}", response_model=ResourcePublic)
    async def get_resource(resource_id: PathId, who: Caller) -> ResourcePublic:
        async with engine.connect() as conn:
            return _public(await _resource(conn, resource_id, who))

    @api.patch("/resources/{resource_id}", response_model=ResourcePublic)
    async def update_resource(
        resource_id: PathId, body: ResourceUpdate, request: Request, who: Staff
    ) -> ResourcePublic:
        """Rename, move, (de)activate or resize a resource. A capacity below what some night
        already has claimed is refused (409, with those nights) and nothing changes."""
        changes = body.model_dump(exclude_unset=True)
        if not changes:
            raise Problem(422, "nothing-to-change", "Nothing to change", "Send at least one field.")
        rid = _uuid_or_404(resource_id)
        async with engine.begin() as conn:
            # Lock order: the resource row first (claims hold it FOR SHARE), then its nights.
            locked = await _resource(conn, resource_id, who, lock=True)
            if "capacity" in changes:
                over = (
                    await conn.execute(
                        text(
                            "SELECT night, reserved FROM capacity_nights WHERE resource_id = "
                            "CAST(:r AS uuid) AND reserved > :c ORDER BY night LIMIT 20 FOR UPDATE"
                        ),
                        {"r": rid, "c": changes["capacity"]},
                    )
                ).all()
                if over:
                    raise Problem(
                        409,
                        "capacity-below-claims",
                        "Capacity below what is claimed",
                        f"{len(over)}+ nights have more than {changes['capacity']} units claimed.",
                        nights=[
                            {"night": n.night.isoformat(), "claimed": n.reserved} for n in over
                        ],
                    )
                await conn.execute(
                    text(
                        "UPDATE capacity_nights SET capacity = :c WHERE resource_id = CAST(:r AS uuid)"
                    ),
                    {"r": rid, "c": changes["capacity"]},
                )
            sets = ", ".join(f"{name} = :{name}" for name in changes)
            row = (
                await conn.execute(
                    text(
                        f"UPDATE resources SET {sets} WHERE id = CAST(:id AS uuid) RETURNING {_COLUMNS}"
                    ),
                    {"id": rid, **changes},
                )
            ).first()
            if row is None:
                raise _not_found(resource_id)
            updated = _public(row)
            await audit.record_change(
                conn, request, who, "resource", "update", _public(locked), updated
            )
        return updated

    @api.put("/resources/{resource_id}/rules", response_model=ResourcePublic)
    async def replace_rules(
        resource_id: PathId, body: RulesIn, request: Request, who: Staff
    ) -> ResourcePublic:
        """Replace the resource's availability rules. Existing reservations keep their nights."""
        rules = body.to_domain()
        rid = _uuid_or_404(resource_id)
        async with engine.begin() as conn:
            before = await _resource(conn, resource_id, who, lock=True)
            row = (
                await conn.execute(
                    text(
                        "UPDATE resources SET rules = CAST(:rules AS jsonb) "
                        f"WHERE id = CAST(:id AS uuid) RETURNING {_COLUMNS}"
                    ),
                    {"id": rid, "rules": json.dumps(rules.to_json())},
                )
            ).one()
            replaced = _public(row)
            await audit.record_change(
                conn, request, who, "resource", "replace-rules", _public(before), replaced
            )
        return replaced

    @api.get("/resources/{resource_id}/audit", response_model=list[AuditEntry])
    async def resource_audit(resource_id: PathId, who: Staff) -> list[AuditEntry]:
        """Every change made to the resource (its rules included) through this API: who, from
        where (client address, user agent), when, and the values before and after."""
        found = await get_resource(resource_id, who)  # the tenant's own, or 404
        async with engine.connect() as conn:
            return await audit.trail(conn, "resource", found.id)

    @api.get("/resources/{resource_id}/availability", response_model=list[NightAvailability])
    async def availability(
        resource_id: PathId, start: date, end: date, who: Caller
    ) -> list[NightAvailability]:
        """Units taken and free per night (expired holds count as free)."""
        if end <= start or (end - start).days > 366:
            raise Problem(
                422, "bad-range", "Bad date range", "end must be after start, at most 366 days."
            )
        resource = await get_resource(resource_id, who)
        async with engine.connect() as conn:
            reserved = await effective_reserved(conn, resource.id, start, end, await db_now(conn))
        return [
            NightAvailability(
                night=night,
                capacity=resource.capacity,
                reserved=taken,
                available=resource.capacity - taken,
            )
            for night, taken in reserved.items()
        ]

    return api


def _not_found(resource_id: str) -> Problem:
    return Problem(404, "resource-not-found", "Resource not found", f"No resource {resource_id}.")


def _uuid_or_404(value: str) -> str:
    return uuid_or(value, _not_found(value))
