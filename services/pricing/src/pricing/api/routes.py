"""Pricing REST: rate plans."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Row, text

from contracts.base import DecimalStr, to_minor_units
from pricing.domain.money import PricingRuleBroken, parse_rate
from service_kit.problems import Problem, uuid_or
from service_kit.runtime import Wiring


class RatePlanCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resource_id: str = Field(min_length=1, max_length=64)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    nightly_rate: str = Field(
        min_length=1, max_length=32, description='A decimal string, e.g. "120.00" (never a float)'
    )


class RatePlanPublic(BaseModel):
    id: str
    resource_id: str
    currency: str
    nightly_rate: DecimalStr
    active: bool
    created_at: datetime


def router(wiring: Wiring) -> APIRouter:
    api = APIRouter(prefix="/api/v1", tags=["pricing"])
    engine = wiring.engine

    def public(row: Row[Any]) -> RatePlanPublic:
        rate: Decimal = to_minor_units(row.nightly_rate, row.currency)
        return RatePlanPublic(
            id=row.id,
            resource_id=row.resource_id,
            currency=row.currency,
            nightly_rate=rate,
            active=row.active,
            created_at=row.created_at,
        )

    @api.post("/rate-plans", status_code=201, response_model=RatePlanPublic)
    async def create_rate_plan(body: RatePlanCreate, response: Response) -> RatePlanPublic:
        try:
            rate = parse_rate(body.nightly_rate, body.currency)
        except PricingRuleBroken as broken:
            raise Problem(
                422, broken.code.replace("_", "-"), "Invalid rate plan", str(broken)
            ) from None
        plan_id = str(uuid.uuid4())
        async with engine.begin() as conn:
            row = (
                await conn.execute(
                    text(
                        "INSERT INTO rate_plans (id, resource_id, currency, nightly_rate) "
                        "VALUES (:id, :r, :c, :rate) "
                        "RETURNING id::text, resource_id, currency, nightly_rate, active, created_at"
                    ),
                    {"id": plan_id, "r": body.resource_id, "c": body.currency, "rate": rate},
                )
            ).one()
        response.headers["Location"] = f"/api/v1/rate-plans/{plan_id}"
        return public(row)

    @api.get("/rate-plans", response_model=list[RatePlanPublic])
    async def list_rate_plans(
        resource_id: Annotated[str | None, Query(max_length=64)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> list[RatePlanPublic]:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT id::text, resource_id, currency, nightly_rate, active, created_at "
                    "FROM rate_plans WHERE (CAST(:r AS text) IS NULL OR resource_id = :r) "
                    "ORDER BY created_at DESC LIMIT :limit"
                ),
                {"r": resource_id, "limit": limit},
            )
            return [public(r) for r in rows]

    @api.get("/rate-plans/{plan_id}", response_model=RatePlanPublic)
    async def get_rate_plan(plan_id: str) -> RatePlanPublic:
        uuid_or(plan_id, Problem(404, "rate-plan-not-found", "Rate plan not found"))
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT id::text, resource_id, currency, nightly_rate, active, created_at "
                        "FROM rate_plans WHERE id = CAST(:id AS uuid)"
                    ),
                    {"id": plan_id},
                )
            ).first()
        if row is None:
            raise Problem(404, "rate-plan-not-found", "Rate plan not found")
        return public(row)

    return api
