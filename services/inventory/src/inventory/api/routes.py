"""Inventory REST: resources (admin) and their remaining capacity."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import text

from inventory.domain.resources import UnknownTimezone, validate_timezone
from service_kit.pagination import cursor_id, set_next_link
from service_kit.problems import Problem, uuid_or
from service_kit.runtime import Wiring


class ResourceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    booking_mode: Literal["nightly", "timeslot"] = "nightly"
    capacity: int = Field(ge=1, le=100_000)
    timezone: str = Field(min_length=1, max_length=64)
    kind: str = Field(default="property", min_length=1, max_length=40)


class ResourcePublic(BaseModel):
    id: str
    name: str
    kind: str
    booking_mode: str
    capacity: int
    timezone: str
    active: bool
    created_at: datetime


class NightAvailability(BaseModel):
    night: date
    capacity: int
    reserved: int
    available: int


_COLUMNS = "id::text, name, kind, booking_mode, capacity, timezone, active, created_at"


def router(wiring: Wiring) -> APIRouter:
    api = APIRouter(prefix="/api/v1", tags=["inventory"])
    engine = wiring.engine

    @api.post("/resources", status_code=201, response_model=ResourcePublic)
    async def create_resource(body: ResourceCreate, response: Response) -> ResourcePublic:
        try:
            tz = validate_timezone(body.timezone)
        except UnknownTimezone as exc:
            raise Problem(422, "unknown-timezone", "Unknown timezone", str(exc)) from None
        resource_id = str(uuid.uuid4())
        async with engine.begin() as conn:
            row = (
                await conn.execute(
                    text(
                        "INSERT INTO resources (id, name, kind, booking_mode, capacity, timezone) "
                        f"VALUES (:id, :name, :kind, :mode, :cap, :tz) RETURNING {_COLUMNS}"
                    ),
                    {
                        "id": resource_id,
                        "name": body.name,
                        "kind": body.kind,
                        "mode": body.booking_mode,
                        "cap": body.capacity,
                        "tz": tz,
                    },
                )
            ).one()
        response.headers["Location"] = f"/api/v1/resources/{resource_id}"
        return ResourcePublic(**row._mapping)

    @api.get("/resources", response_model=list[ResourcePublic])
    async def list_resources(
        request: Request,
        response: Response,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        cursor: Annotated[
            str | None, Query(description="the last id of the previous page (see Link: next)")
        ] = None,
    ) -> list[ResourcePublic]:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text(
                    f"SELECT {_COLUMNS} FROM resources "
                    "WHERE (CAST(:after AS uuid) IS NULL OR id > CAST(:after AS uuid)) "
                    "ORDER BY id LIMIT :limit"
                ),
                {"after": cursor_id(cursor) if cursor else None, "limit": limit},
            )
            items = [ResourcePublic(**r._mapping) for r in rows]
        set_next_link(request, response, items, limit)
        return items

    @api.get("/resources/{resource_id}", response_model=ResourcePublic)
    async def get_resource(resource_id: str) -> ResourcePublic:
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    text(f"SELECT {_COLUMNS} FROM resources WHERE id = CAST(:id AS uuid)"),
                    {"id": _uuid_or_404(resource_id)},
                )
            ).first()
        if row is None:
            raise _not_found(resource_id)
        return ResourcePublic(**row._mapping)

    @api.get("/resources/{resource_id}/availability", response_model=list[NightAvailability])
    async def availability(resource_id: str, start: date, end: date) -> list[NightAvailability]:
        if end <= start or (end - start).days > 366:
            raise Problem(
                422, "bad-range", "Bad date range", "end must be after start, at most 366 days."
            )
        resource = await get_resource(resource_id)
        async with engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT d::date AS night, COALESCE(n.reserved, 0) AS reserved "
                    "FROM generate_series(CAST(:s AS date), CAST(:e AS date) - 1, interval '1 day') d "
                    "LEFT JOIN capacity_nights n ON n.resource_id = CAST(:id AS uuid) AND n.night = d::date "
                    "ORDER BY d"
                ),
                {"s": start, "e": end, "id": resource.id},
            )
            return [
                NightAvailability(
                    night=r.night,
                    capacity=resource.capacity,
                    reserved=r.reserved,
                    available=resource.capacity - r.reserved,
                )
                for r in rows
            ]

    return api


def _not_found(resource_id: str) -> Problem:
    return Problem(404, "resource-not-found", "Resource not found", f"No resource {resource_id}.")


def _uuid_or_404(value: str) -> str:
    return uuid_or(value, _not_found(value))
