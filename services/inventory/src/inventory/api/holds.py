"""Holds over REST: a checkout holds capacity, then books it (or lets the hold lapse).

``POST /api/v1/holds`` → 201 with the hold and its expiry; ``GET /api/v1/holds/{id}``;
``DELETE /api/v1/holds/{id}`` releases it (204, also when it had already ended).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from inventory.adapters.ledger import Claim, Ledger, claim_by_id
from inventory.api.availability import PartyIn
from inventory.domain.resources import (
    InsufficientCapacity,
    InventoryRuleBroken,
    ResourceNotFound,
    RulesBroken,
)
from inventory.settings import InventorySettings
from service_kit.auth import Caller, Principal
from service_kit.clock import db_now
from service_kit.fields import PathId
from service_kit.problems import Problem, uuid_or
from service_kit.quotas import GuestQuota
from service_kit.ratelimit import RATE_LIMITED
from service_kit.runtime import Wiring


class HoldCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    resource_id: str = Field(min_length=1, max_length=64)
    check_in: date
    check_out: date
    party: PartyIn
    holder: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="who holds it (a cart, a user); default and, for guests, always the caller",
    )
    ttl_seconds: int | None = Field(
        default=None, ge=1, le=24 * 3600, description="default: INVENTORY_HOLD_TTL_S (15 min)"
    )

    @model_validator(mode="after")
    def _period(self) -> HoldCreate:
        if self.check_out <= self.check_in:
            raise ValueError("check_out must be after check_in")
        if (self.check_out - self.check_in).days > 365:
            raise ValueError("a stay is at most 365 nights")
        return self


class HoldExtend(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ttl_seconds: int = Field(ge=1, le=24 * 3600)


class HoldPublic(BaseModel):
    id: str
    resource_id: str
    booking_id: str | None
    holder: str | None
    status: str
    check_in: date
    check_out: date
    claimed_until: date
    quantity: int
    expires_at: datetime | None
    slot_id: str | None = None


def claim_public(claim: Claim) -> HoldPublic:
    return HoldPublic(
        id=claim.id,
        resource_id=claim.resource_id,
        booking_id=claim.booking_id,
        holder=claim.holder,
        status=claim.status,
        check_in=claim.check_in,
        check_out=claim.check_out,
        claimed_until=claim.claimed_until,
        quantity=claim.quantity,
        expires_at=claim.expires_at,
        slot_id=claim.slot_id,
    )


def refusal_problem(refused: InventoryRuleBroken) -> Problem:
    """How a refused claim answers over REST: 409 when it is full, 422 when the rules refuse it
    (every failed rule listed)."""
    if isinstance(refused, InsufficientCapacity):
        return Problem(409, "insufficient-capacity", "No capacity left", str(refused))
    failed = refused.violations if isinstance(refused, RulesBroken) else []
    return Problem(
        422,
        "not-bookable",
        "The claim breaks availability rules",
        str(refused),
        failed_rules=[{"rule": v.rule, "code": v.code, "detail": v.detail} for v in failed],
    )


def _not_found(hold_id: str) -> Problem:
    return Problem(404, "hold-not-found", "Hold not found", f"No hold {hold_id}.")


def holder_for(who: Principal, asked: str | None) -> str:
    """Staff may hold for anyone (a cart, a phone customer); a guest only for themselves."""
    if asked is None or asked == who.subject:
        return who.subject
    if not who.is_staff:
        raise Problem(403, "forbidden", "Forbidden", "A guest holds only for themselves.")
    return asked


async def visible_claim(
    conn: AsyncConnection, hold_id: str, who: Principal, *, lock: bool
) -> Claim:
    """The claim, if the caller may see it: its resource is of the caller's tenant and, for a
    guest, the guest holds it. Anything else is 404, so ids of others leak nothing."""
    claim = await claim_by_id(conn, uuid_or(hold_id, _not_found(hold_id)), lock=lock)
    if claim is None or (not who.is_staff and claim.holder != who.subject):
        raise _not_found(hold_id)
    owner = await conn.execute(
        text("SELECT tenant_id FROM resources WHERE id = CAST(:r AS uuid)"),
        {"r": claim.resource_id},
    )
    if owner.scalar() != who.tenant:
        raise _not_found(hold_id)
    return claim


def guest_ttl(settings: InventorySettings, who: Principal, asked: int | None) -> timedelta:
    """A hold's time: what was asked, else the default; a guest's at most
    INVENTORY_GUEST_HOLD_MAX_TTL_S (15 min) at a time (422 past it)."""
    cap = settings.guest_hold_max_ttl_s
    if who.is_staff:
        return timedelta(seconds=asked or settings.hold_ttl_s)
    if asked is not None and asked > cap:
        raise Problem(
            422,
            "hold-too-long",
            "Hold too long",
            f"A guest holds for at most {cap:.0f} seconds at a time.",
            limit_seconds=int(cap),
        )
    return timedelta(seconds=asked or min(settings.hold_ttl_s, cap))


def hold_quota(settings: InventorySettings) -> GuestQuota:
    """At most INVENTORY_GUEST_MAX_HOLDS live holds per guest (409 hold-quota-exceeded)."""
    return GuestQuota(
        name="hold",
        limit=settings.guest_max_holds,
        count_sql=(
            "SELECT count(*) FROM reservations WHERE tenant_id = :tenant AND holder = :guest "
            "AND booking_id IS NULL AND status = 'held' AND expires_at > now()"
        ),
        what="live holds",
        remedy="Release one or book it.",
    )


def router(wiring: Wiring, ledger: Ledger) -> APIRouter:
    api = APIRouter(prefix="/api/v1", tags=["holds"])
    engine = wiring.engine
    settings = wiring.settings
    assert isinstance(settings, InventorySettings)

    @api.post("/holds", status_code=201, response_model=HoldPublic, dependencies=[RATE_LIMITED])
    async def create_hold(body: HoldCreate, response: Response, who: Caller) -> HoldPublic:
        """Hold one unit for the stay. 422 when the rules refuse it (every failed rule is
        listed) or a guest asks for more than 15 minutes, 409 when the nights are full or the
        guest already holds their quota."""
        ttl = guest_ttl(settings, who, body.ttl_seconds)
        party = body.party.size
        holder = holder_for(who, body.holder)
        try:
            async with engine.begin() as conn:
                await hold_quota(settings).enforce(conn, who, holder)
                claim = await ledger.claim(
                    conn,
                    resource_id=body.resource_id,
                    check_in=body.check_in,
                    check_out=body.check_out,
                    quantity=1,
                    party_size=party,
                    now=await db_now(conn),
                    ttl=ttl,
                    holder=holder,
                    tenant=who.tenant,
                )
        except ResourceNotFound:
            raise Problem(
                422,
                "unknown-resource",
                "Unknown resource",
                f"Resource {body.resource_id} does not exist.",
            ) from None
        except InventoryRuleBroken as refused:
            raise refusal_problem(refused) from None
        response.headers["Location"] = f"/api/v1/holds/{claim.id}"
        return claim_public(claim)

    @api.get("/holds/{hold_id}", response_model=HoldPublic)
    async def get_hold(hold_id: PathId, who: Caller) -> HoldPublic:
        """A hold of the caller's tenant; a guest sees only their own."""
        async with engine.connect() as conn:
            return claim_public(await visible_claim(conn, hold_id, who, lock=False))

    @api.post("/holds/{hold_id}/extend", response_model=HoldPublic, dependencies=[RATE_LIMITED])
    async def extend_hold(hold_id: PathId, body: HoldExtend, who: Caller) -> HoldPublic:
        """Keep a hold ``ttl_seconds`` more from now. 409 when it is no longer held, or when a
        guest's hold would outlive INVENTORY_GUEST_HOLD_MAX_LIFE_S (an hour) from when it was
        made; 422 when a guest asks for more than 15 minutes at a time."""
        ttl = guest_ttl(settings, who, body.ttl_seconds)
        async with engine.begin() as conn:
            claim = await visible_claim(conn, hold_id, who, lock=True)
            now = await db_now(conn)
            if not who.is_staff:
                made = (
                    await conn.execute(
                        text("SELECT created_at FROM reservations WHERE id = CAST(:id AS uuid)"),
                        {"id": claim.id},
                    )
                ).scalar_one()
                life = timedelta(seconds=settings.guest_hold_max_life_s)
                if now + ttl > made + life:
                    raise Problem(
                        409,
                        "hold-limit-reached",
                        "The hold cannot be kept longer",
                        f"A guest's hold lives at most {life.total_seconds():.0f} seconds: book "
                        "it or let it go.",
                    )
            until = await ledger.extend(conn, claim, now, ttl)
            if until is None:
                raise Problem(
                    409,
                    "hold-not-held",
                    "The hold is no longer held",
                    f"It is {claim.status if claim.status != 'held' else 'expired'}.",
                )
            fresh = await claim_by_id(conn, claim.id, lock=False)
        assert fresh is not None
        return claim_public(fresh)

    @api.delete("/holds/{hold_id}", status_code=204, dependencies=[RATE_LIMITED])
    async def delete_hold(hold_id: PathId, who: Caller) -> Response:
        """Release a hold. A hold already released or expired answers 204 too (idempotent);
        one that became a confirmed booking is 409 (cancel the booking instead)."""
        async with engine.begin() as conn:
            claim = await visible_claim(conn, hold_id, who, lock=True)
            if claim.status == "confirmed":
                raise Problem(
                    409,
                    "hold-confirmed",
                    "The hold is a confirmed booking",
                    "Cancel the booking instead.",
                )
            await ledger.release(conn, claim, "hold_deleted")
        return Response(status_code=204)

    return api
