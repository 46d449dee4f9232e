"""``POST /api/v1/availability/check``: may this stay be booked, and if not, why (every rule)."""

from __future__ import annotations

from datetime import date, datetime

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.ext.asyncio import AsyncConnection

from inventory.adapters.ledger import (
    blackouts_for,
    effective_reserved,
    group_members,
    load_resource,
)
from inventory.domain.resources import (
    InventoryRuleBroken,
    ResourceView,
    RulesBroken,
    ensure_bookable,
    nights,
)
from inventory.domain.rules import RuleViolation, claimed_until
from service_kit.auth import Caller
from service_kit.clock import db_now
from service_kit.problems import Problem, uuid_or
from service_kit.runtime import Wiring


class PartyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    adults: int = Field(ge=1, le=100)
    children: int = Field(default=0, ge=0, le=100)
    infants: int = Field(default=0, ge=0, le=100)

    @property
    def size(self) -> int:
        return self.adults + self.children + self.infants


class StayRequest(BaseModel):
    """A stay and a party, as the availability endpoints take it."""

    model_config = ConfigDict(extra="forbid")

    check_in: date
    check_out: date
    party: PartyIn

    @model_validator(mode="after")
    def _period(self) -> StayRequest:
        if self.check_out <= self.check_in:
            raise ValueError("check_out must be after check_in")
        if (self.check_out - self.check_in).days > 365:
            raise ValueError("a stay is at most 365 nights")
        return self


class StayCheck(StayRequest):
    resource_id: str = Field(min_length=1, max_length=64, description="a resource or a group")


class FailedRule(BaseModel):
    rule: str
    code: str
    detail: str


class NightLeft(BaseModel):
    night: date
    available: int


class StayCheckResult(BaseModel):
    resource_id: str
    unit_id: str | None = Field(description="the unit a claim would get (for a group)")
    available: bool
    failed_rules: list[FailedRule]
    nights: list[NightLeft] = Field(description="free units per claimed night (stay and buffer)")


async def _check_unit(
    conn: AsyncConnection, resource: ResourceView, body: StayCheck, party: int, now: datetime
) -> tuple[list[RuleViolation], list[NightLeft]]:
    failed: list[RuleViolation] = []
    try:
        ensure_bookable(
            resource,
            resource.id,
            1,
            stay=(body.check_in, body.check_out),
            party_size=party,
            now=now,
            blackouts=await blackouts_for(conn, resource, body.check_in, body.check_out),
        )
    except RulesBroken as broken:
        failed.extend(broken.violations)
    except InventoryRuleBroken as broken:
        failed.append(RuleViolation(type(broken).__name__, broken.code, str(broken)))
    until = claimed_until(body.check_out, resource.rules)
    reserved = await effective_reserved(conn, resource.id, body.check_in, until, now)
    left = [
        NightLeft(night=n, available=resource.capacity - reserved.get(n, 0))
        for n in nights(body.check_in, until)
    ]
    full = [n.night.isoformat() for n in left if n.available < 1]
    if full:
        failed.append(
            RuleViolation(
                "InsufficientCapacity",
                "insufficient_capacity",
                f"no unit free on {', '.join(full)}",
            )
        )
    return failed, left


def router(wiring: Wiring) -> APIRouter:
    api = APIRouter(prefix="/api/v1", tags=["availability"])
    engine = wiring.engine

    @api.post("/availability/check", response_model=StayCheckResult)
    async def check(body: StayCheck, who: Caller) -> StayCheckResult:
        """Every availability rule the stay breaks, and the capacity left on its nights.

        ``resource_id`` may name a resource group: the answer is then about the unit a claim
        would get (``unit_id``), or, when none would do, every distinct reason why. A read:
        nothing is held.
        """
        not_found = Problem(
            404, "resource-not-found", "Resource not found", f"No resource {body.resource_id}."
        )
        resource_id = uuid_or(body.resource_id, not_found)
        party = body.party.size
        async with engine.connect() as conn:
            now = await db_now(conn)
            members = await group_members(
                conn, resource_id, body.check_in, body.check_out, who.tenant
            )
            unit_ids = [resource_id] if members is None else members
            failed: list[RuleViolation] = []
            first_left: list[NightLeft] = []
            for unit_id in unit_ids:
                unit = await load_resource(conn, unit_id, tenant=who.tenant)
                if unit is None:
                    raise not_found
                unit_failed, left = await _check_unit(conn, unit, body, party, now)
                if not unit_failed:
                    return StayCheckResult(
                        resource_id=resource_id,
                        unit_id=unit_id,
                        available=True,
                        failed_rules=[],
                        nights=left,
                    )
                first_left = first_left or left
                seen = {(f.rule, f.detail) for f in failed}  # a group: each distinct reason once
                failed.extend(v for v in unit_failed if (v.rule, v.detail) not in seen)
        if not unit_ids:
            failed.append(RuleViolation("ResourceInactive", "resource_inactive", "no active unit"))
        return StayCheckResult(
            resource_id=resource_id,
            unit_id=None,
            available=False,
            failed_rules=[FailedRule(rule=v.rule, code=v.code, detail=v.detail) for v in failed],
            nights=first_left,
        )

    return api
