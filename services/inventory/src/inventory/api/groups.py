"""Resource groups: a room type with N rooms, a pool of staff. Book the group, get a unit."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import text

from service_kit.auth import Caller, Staff
from service_kit.fields import PathId
from service_kit.problems import Problem, uuid_or
from service_kit.runtime import Wiring


class GroupCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    kind: str = Field(default="room", min_length=1, max_length=40)
    venue_id: str | None = Field(default=None, min_length=1, max_length=64)


class GroupPublic(BaseModel):
    id: str
    name: str
    kind: str
    venue_id: str | None
    created_at: datetime
    units: list[str] = Field(description="ids of the resources in the group")


def not_found(group_id: str) -> Problem:
    return Problem(404, "group-not-found", "Resource group not found", f"No group {group_id}.")


def router(wiring: Wiring) -> APIRouter:
    api = APIRouter(prefix="/api/v1", tags=["resource groups"])
    engine = wiring.engine

    @api.post("/resource-groups", status_code=201, response_model=GroupPublic)
    async def create_group(body: GroupCreate, response: Response, who: Staff) -> GroupPublic:
        group_id = str(uuid.uuid4())
        async with engine.begin() as conn:
            row = (
                await conn.execute(
                    text(
                        "INSERT INTO resource_groups (id, tenant_id, name, kind, venue_id) VALUES "
                        "(:id, :t, :n, :k, :v) RETURNING id::text, name, kind, venue_id, created_at"
                    ),
                    {
                        "id": group_id,
                        "t": who.tenant,
                        "n": body.name,
                        "k": body.kind,
                        "v": body.venue_id,
                    },
                )
            ).one()
        response.headers["Location"] = f"/api/v1/resource-groups/{group_id}"
        return GroupPublic(**row._mapping, units=[])

    @api.get("/resource-groups/{group_id}", response_model=GroupPublic)
    async def get_group(group_id: PathId, who: Caller) -> GroupPublic:
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT id::text, name, kind, venue_id, created_at FROM resource_groups "
                        "WHERE id = CAST(:id AS uuid) AND tenant_id = :t"
                    ),
                    {"id": uuid_or(group_id, not_found(group_id)), "t": who.tenant},
                )
            ).first()
            if row is None:
                raise not_found(group_id)
            units = await conn.execute(
                text(
                    "SELECT id::text FROM resources WHERE group_id = CAST(:g AS uuid) ORDER BY id"
                ),
                {"g": row.id},
            )
            return GroupPublic(**row._mapping, units=[u[0] for u in units])

    return api
