"""Blackouts: dates a resource, a venue or the whole tenant cannot be booked.

Creating a blackout over existing claims does not cancel them silently: the answer lists every
active claim it overlaps (``affected_claims``) so staff can move or cancel those bookings.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import text

from inventory.adapters.ledger import CLAIM_COLUMNS, Claim, load_resource
from inventory.api.holds import HoldPublic, claim_public
from service_kit.auth import Staff
from service_kit.fields import PathId
from service_kit.problems import Problem, uuid_or
from service_kit.runtime import Wiring

Kind = Literal["holiday", "maintenance", "weather", "owner_use", "custom"]


class BlackoutCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    scope: Literal["resource", "venue", "tenant"]
    resource_id: str | None = Field(default=None, max_length=64)
    venue_id: str | None = Field(default=None, min_length=1, max_length=64)
    kind: Kind
    reason: str = Field(min_length=1, max_length=500)
    starts_on: date
    ends_on: date = Field(description="exclusive: the first date that can be booked again")

    @model_validator(mode="after")
    def _consistent(self) -> BlackoutCreate:
        if self.ends_on <= self.starts_on:
            raise ValueError("ends_on must be after starts_on")
        if (self.ends_on - self.starts_on).days > 3660:
            raise ValueError("a blackout spans at most ten years")
        wants = {"resource": ("resource_id",), "venue": ("venue_id",), "tenant": ()}[self.scope]
        for name in ("resource_id", "venue_id"):
            given = getattr(self, name) is not None
            if given != (name in wants):
                raise ValueError(
                    f"a {self.scope} blackout {'needs' if name in wants else 'takes no'} {name}"
                )
        return self


class BlackoutPublic(BaseModel):
    id: str
    scope: str
    resource_id: str | None
    venue_id: str | None
    kind: str
    reason: str
    starts_on: date
    ends_on: date
    created_at: datetime


class BlackoutCreated(BaseModel):
    blackout: BlackoutPublic
    affected_claims: list[HoldPublic] = Field(
        description="active holds and reservations on the blacked-out dates, left for staff to act on"
    )


_COLUMNS = (
    "id::text, scope, resource_id::text, venue_id, kind, reason, starts_on, ends_on, created_at"
)


def router(wiring: Wiring) -> APIRouter:
    api = APIRouter(prefix="/api/v1", tags=["blackouts"])
    engine = wiring.engine

    @api.post("/blackouts", status_code=201, response_model=BlackoutCreated)
    async def create_blackout(
        body: BlackoutCreate, response: Response, who: Staff
    ) -> BlackoutCreated:
        """Black out dates of a resource, a venue or the caller's whole tenant (staff)."""
        # Yesterday is allowed: "today" differs between the resource's zone and UTC.
        if body.starts_on < datetime.now(UTC).date() - timedelta(days=1):
            raise Problem(422, "date-in-past", "Blackout in the past", "starts_on is in the past.")
        blackout_id = str(uuid.uuid4())
        async with engine.begin() as conn:
            tenant = who.tenant
            if body.scope == "resource":
                unknown = Problem(
                    422,
                    "unknown-resource",
                    "Unknown resource",
                    f"Resource {body.resource_id} does not exist.",
                )
                resource = await load_resource(
                    conn, uuid_or(body.resource_id or "", unknown), tenant=tenant
                )
                if resource is None:
                    raise unknown
            row = (
                await conn.execute(
                    text(
                        "INSERT INTO blackouts (id, tenant_id, scope, resource_id, venue_id, kind, "
                        "reason, starts_on, ends_on) VALUES (:id, :t, :scope, CAST(:r AS uuid), :v, "
                        f":kind, :reason, :s, :e) RETURNING {_COLUMNS}"
                    ),
                    {
                        "id": blackout_id,
                        "t": tenant,
                        "scope": body.scope,
                        "r": body.resource_id,
                        "v": body.venue_id,
                        "kind": body.kind,
                        "reason": body.reason,
                        "s": body.starts_on,
                        "e": body.ends_on,
                    },
                )
            ).one()
            affected = await conn.execute(
                text(
                    f"SELECT {', '.join('c.' + c.strip() for c in CLAIM_COLUMNS.split(','))} "
                    "FROM reservations c JOIN resources r ON r.id = c.resource_id "
                    "WHERE c.status IN ('held', 'confirmed') AND r.tenant_id = :t "
                    "AND c.check_in < :e AND c.check_out > :s AND ("
                    "  (:scope = 'resource' AND c.resource_id = CAST(:r AS uuid)) OR"
                    "  (:scope = 'venue' AND r.venue_id = :v) OR :scope = 'tenant') "
                    "ORDER BY c.check_in, c.id"
                ),
                {
                    "t": tenant,
                    "scope": body.scope,
                    "r": body.resource_id,
                    "v": body.venue_id,
                    "s": body.starts_on,
                    "e": body.ends_on,
                },
            )
            claims = [claim_public(Claim(*r)) for r in affected]
        response.headers["Location"] = f"/api/v1/blackouts/{blackout_id}"
        return BlackoutCreated(blackout=BlackoutPublic(**row._mapping), affected_claims=claims)

    @api.get("/blackouts", response_model=list[BlackoutPublic])
    async def list_blackouts(
        resource_id: str | None = Query(default=None, max_length=64),
        venue_id: str | None = Query(default=None, max_length=64),
        limit: int = Query(default=100, ge=1, le=500),
        *,
        who: Staff,
    ) -> list[BlackoutPublic]:
        """The caller's tenant's blackouts (staff)."""
        async with engine.connect() as conn:
            rows = await conn.execute(
                text(
                    f"SELECT {_COLUMNS} FROM blackouts WHERE tenant_id = :t AND "
                    "(CAST(:r AS text) IS NULL OR resource_id::text = :r) AND "
                    "(CAST(:v AS text) IS NULL OR venue_id = :v) ORDER BY starts_on, id LIMIT :n"
                ),
                {"t": who.tenant, "r": resource_id, "v": venue_id, "n": limit},
            )
            return [BlackoutPublic(**r._mapping) for r in rows]

    @api.delete("/blackouts/{blackout_id}", status_code=204)
    async def delete_blackout(blackout_id: PathId, who: Staff) -> Response:
        missing = Problem(
            404, "blackout-not-found", "Blackout not found", f"No blackout {blackout_id}."
        )
        async with engine.begin() as conn:
            result = await conn.execute(
                text("DELETE FROM blackouts WHERE id = CAST(:id AS uuid) AND tenant_id = :t"),
                {"id": uuid_or(blackout_id, missing), "t": who.tenant},
            )
        if not result.rowcount:
            raise missing
        return Response(status_code=204)

    return api
