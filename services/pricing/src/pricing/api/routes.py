"""Pricing REST: rate plans (staff), quotes, refund quotes and modification quotes.

Amounts travel as decimal strings ("120.00"), never as JSON numbers, and are refused when they
have more decimals than the currency's minor unit.
"""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from contracts.base import to_minor_units
from pricing.adapters.quoting import PLAN_COLUMNS, StoredQuote, policy_of, price_and_store
from pricing.domain.money import NoRatePlan, PricingRuleBroken
from pricing.domain.plans import RatePlan
from pricing.domain.quotes import PartyMix, Stay, Window, modification_difference, refund_quote
from service_kit import audit
from service_kit.audit import AuditEntry
from service_kit.auth import Admin, BearerToken, Caller, Principal
from service_kit.clock import db_now
from service_kit.fields import PathId, Weekdays
from service_kit.inventory import (
    InventoryClient,
    InventoryRefusedCaller,
    InventoryUnavailable,
    inventory_problem,
)
from service_kit.problems import Problem, uuid_or
from service_kit.runtime import Wiring

Amount = Annotated[
    str, Field(pattern=r"^\d{1,12}(\.\d{1,6})?$", examples=["120.00"], description="decimal string")
]
Percent = Annotated[str, Field(pattern=r"^\d{1,3}(\.\d{1,4})?$", examples=["10"])]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class SeasonIn(_Strict):
    name: str = Field(default="season", min_length=1, max_length=80)
    starts_on: date
    ends_on: date = Field(description="exclusive")
    price: Amount
    weekend_price: Amount | None = None


class LengthDiscountIn(_Strict):
    min_units: int = Field(ge=2, le=1000, description="nights for stays; hours or slots otherwise")
    percent: Percent


class FeeIn(_Strict):
    name: str = Field(min_length=1, max_length=80)
    amount: Amount
    per: Literal["booking", "night", "person"] = "booking"


class TaxIn(_Strict):
    name: str = Field(min_length=1, max_length=80)
    percent: Percent
    inclusive: bool = False


class CategoryIn(_Strict):
    name: Literal["adults", "children", "infants"]
    percent: Percent
    ages: str = Field(default="", max_length=20)


class TierIn(_Strict):
    hours_before: int = Field(ge=0, le=24 * 730)
    refund_percent: Percent


class PlanSpec(_Strict):
    """A rate plan's prices and policies. Omitted parts take the documented defaults: 10 %
    exclusive tax, adults 100 % / children (3-12) 70 % / infants (0-2) free, and refunds of
    100 % from 24 h before the start, 50 % from 6 h, nothing later."""

    currency: str = Field(pattern=r"^[A-Z]{3}$", examples=["EUR"])
    basis: Literal["per_night", "per_hour", "per_slot", "per_person"] = "per_night"
    base_price: Amount | None = Field(default=None, description="required unless nightly_rate")
    nightly_rate: Amount | None = Field(
        default=None,
        description=(
            "The first release's form: a per-night plan at this price, quoting nights x rate "
            "(no tax unless taxes are given). Give it or base_price, not both."
        ),
    )
    weekend_price: Amount | None = None
    weekend_days: Weekdays = Field(default=[4, 5], description="0 = Monday; default Fri, Sat")
    seasons: list[SeasonIn] = Field(default=[], max_length=100)
    length_discounts: list[LengthDiscountIn] = Field(default=[], max_length=20)
    fees: list[FeeIn] = Field(default=[], max_length=20)
    taxes: list[TaxIn] | None = Field(default=None, max_length=10)
    party_categories: list[CategoryIn] | None = Field(default=None, max_length=20)
    cancellation_policy: list[TierIn] | None = Field(default=None, max_length=20)
    quote_valid_minutes: int = Field(default=30, ge=1, le=7 * 24 * 60)

    @model_validator(mode="after")
    def _price(self) -> PlanSpec:
        if self.nightly_rate is not None:
            if self.base_price is not None:
                raise ValueError("give base_price or nightly_rate, not both")
            if self.basis != "per_night":
                raise ValueError("nightly_rate is a per-night price: basis must be per_night")
        elif self.base_price is None:
            raise ValueError("base_price is required (or nightly_rate, for a per-night plan)")
        return self

    def spec(self) -> dict[str, Any]:
        """The plan as the domain reads it (nightly_rate is base_price with no default tax)."""
        doc = self.model_dump(mode="json", exclude={"nightly_rate"})
        if self.nightly_rate is not None:
            doc["base_price"] = self.nightly_rate
            if self.taxes is None:
                doc["taxes"] = []
        return doc

    def to_domain(self) -> RatePlan:
        try:
            return RatePlan.from_json(self.spec())
        except PricingRuleBroken as broken:
            raise Problem(
                422, broken.code.replace("_", "-"), "Invalid rate plan", str(broken)
            ) from None


class RatePlanCreate(PlanSpec):
    resource_id: str | None = Field(default=None, min_length=1, max_length=64)
    venue_id: str | None = Field(default=None, min_length=1, max_length=64)
    name: str = Field(default="", max_length=200)

    @model_validator(mode="after")
    def _target(self) -> RatePlanCreate:
        if (self.resource_id is None) == (self.venue_id is None):
            raise ValueError("a rate plan is for a resource_id or for a venue_id")
        return self


class RatePlanPublic(BaseModel):
    id: str
    resource_id: str | None
    venue_id: str | None
    name: str
    currency: str
    nightly_rate: str | None = Field(
        description="the price per night of a per-night plan (the first release's field)"
    )
    version: int
    active: bool
    plan: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class PartyIn(_Strict):
    adults: int = Field(ge=1, le=100)
    children: int = Field(default=0, ge=0, le=100)
    infants: int = Field(default=0, ge=0, le=100)


class QuoteRequest(_Strict):
    """A stay (check_in, check_out) or a timeslot (starts_at, ends_at, timezone)."""

    resource_id: str = Field(min_length=1, max_length=64)
    venue_id: str | None = Field(default=None, min_length=1, max_length=64)
    party: PartyIn
    check_in: date | None = None
    check_out: date | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    timezone: str | None = Field(default=None, max_length=64)

    @model_validator(mode="after")
    def _one_kind(self) -> QuoteRequest:
        stay = self.check_in is not None or self.check_out is not None
        slot = self.starts_at is not None or self.ends_at is not None
        if stay == slot:
            raise ValueError("give check_in and check_out, or starts_at, ends_at and timezone")
        if stay:
            if self.check_in is None or self.check_out is None or self.check_out <= self.check_in:
                raise ValueError("check_out must be after check_in")
            if (self.check_out - self.check_in).days > 365:
                raise ValueError("a stay is at most 365 nights")
        else:
            if self.starts_at is None or self.ends_at is None or self.timezone is None:
                raise ValueError("a timeslot needs starts_at, ends_at and timezone")
            if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
                raise ValueError("starts_at and ends_at need a UTC offset")
            if self.ends_at <= self.starts_at:
                raise ValueError("ends_at must be after starts_at")
        return self

    def stay(self) -> Stay | None:
        if self.check_in is None or self.check_out is None:
            return None
        return Stay(self.check_in, self.check_out)

    def window(self) -> Window | None:
        if self.starts_at is None or self.ends_at is None or self.timezone is None:
            return None
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise Problem(
                422, "unknown-timezone", "Unknown timezone", f"No timezone {self.timezone!r}."
            ) from None
        return Window(self.starts_at, self.ends_at, self.timezone)


class QuotePublic(BaseModel):
    id: str
    booking_id: str | None
    resource_id: str | None
    currency: str
    lines: list[dict[str, str]]
    subtotal: str
    discounts: str
    fees: str
    taxes: str
    taxes_included: str
    total: str
    cancellation_policy: list[dict[str, Any]]
    rate_plan: dict[str, Any]
    valid_until: datetime | None
    created_at: datetime


class RefundRequest(_Strict):
    starts_at: datetime = Field(description="when the booking starts (aware)")
    paid: Amount | None = Field(default=None, description="default: the quote's total")
    at: datetime | None = Field(default=None, description="when it is cancelled; default now")


class RefundPublic(BaseModel):
    quote_id: str
    currency: str
    paid: str
    hours_before_start: str
    refund_percent: str
    refundable: str
    cancellation_policy: list[dict[str, Any]]


class ModificationPublic(BaseModel):
    old_quote_id: str
    new_quote: QuotePublic
    difference: str = Field(description="new total - old total")
    action: Literal["charge", "refund", "none"]
    currency: str


_QUOTE_COLUMNS = (
    "id::text, booking_id, resource_id, tenant_id, currency, total, doc, valid_until, created_at"
)


async def _plan(
    conn: AsyncConnection, plan_id: str, who: Principal, *, lock: bool = False
) -> RatePlanPublic:
    """The tenant's plan (locked for a change, with ``lock``), or 404."""
    row = (
        await conn.execute(
            text(
                f"SELECT {PLAN_COLUMNS} FROM rate_plans "
                "WHERE id = CAST(:id AS uuid) AND tenant_id = :t" + (" FOR UPDATE" if lock else "")
            ),
            {"id": uuid_or(plan_id, _plan_missing(plan_id)), "t": who.tenant},
        )
    ).first()
    if row is None:
        raise _plan_missing(plan_id)
    return _plan_public(row)


def _plan_public(row: Any) -> RatePlanPublic:
    return RatePlanPublic(
        id=row.id,
        resource_id=row.resource_id,
        venue_id=row.venue_id,
        name=row.name,
        currency=row.currency,
        nightly_rate=(
            row.spec.get("base_price")
            if row.spec.get("basis", "per_night") == "per_night"
            else None
        ),
        version=row.version,
        active=row.active,
        plan=row.spec,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _quote_public(row: Any) -> QuotePublic:
    doc = row.doc or {}
    return QuotePublic(
        id=row.id,
        booking_id=row.booking_id,
        resource_id=row.resource_id,
        currency=row.currency,
        lines=doc.get("lines", []),
        subtotal=doc.get("subtotal", str(_total(row))),
        discounts=doc.get("discounts", "0"),
        fees=doc.get("fees", "0"),
        taxes=doc.get("taxes", "0"),
        taxes_included=doc.get("taxes_included", "0"),
        total=doc.get("total", str(_total(row))),
        cancellation_policy=doc.get("cancellation_policy", []),
        rate_plan=doc.get("rate_plan", {}),
        valid_until=row.valid_until,
        created_at=row.created_at,
    )


def _total(row: Any) -> Decimal:
    """A stored total (NUMERIC(18, 6)) in the currency's minor units."""
    return to_minor_units(Decimal(str(row.total)), row.currency)


def _plan_missing(plan_id: str) -> Problem:
    return Problem(404, "rate-plan-not-found", "Rate plan not found", f"No rate plan {plan_id}.")


def _quote_missing(quote_id: str) -> Problem:
    return Problem(404, "quote-not-found", "Quote not found", f"No quote {quote_id}.")


def _refused(broken: PricingRuleBroken) -> Problem:
    if isinstance(broken, NoRatePlan):
        return Problem(422, "no-rate-plan", "No rate plan", str(broken))
    return Problem(422, broken.code.replace("_", "-"), "Cannot price this request", str(broken))


async def check_owned(inventory: InventoryClient, body: RatePlanCreate, token: str | None) -> None:
    """A plan is for the caller's tenant's own resource (or group) or venue: inventory answers
    for the caller's tenant only, so another tenant's resource is as unknown as a missing one
    (422 either way, telling nothing about other tenants)."""
    try:
        if body.resource_id is not None:
            owned = await inventory.resource(body.resource_id, token)
            what = f"resource {body.resource_id}"
        else:
            assert body.venue_id is not None
            owned = await inventory.venue(body.venue_id, token)
            what = f"venue {body.venue_id}"
    except (InventoryUnavailable, InventoryRefusedCaller) as exc:
        raise inventory_problem(exc) from None
    if owned is None:
        raise Problem(
            422,
            "unknown-resource" if body.resource_id is not None else "unknown-venue",
            "Not your resource" if body.resource_id is not None else "Not your venue",
            f"Your tenant has no {what}; a rate plan can only be made for your own.",
        )


def router(wiring: Wiring, inventory: InventoryClient) -> APIRouter:
    api = APIRouter(prefix="/api/v1", tags=["pricing"])
    engine = wiring.engine

    async def load_quote(conn: AsyncConnection, quote_id: str, who: Principal) -> Any:
        row = (
            await conn.execute(
                text(
                    f"SELECT {_QUOTE_COLUMNS} FROM quotes "
                    "WHERE id = CAST(:id AS uuid) AND tenant_id = :t"
                ),
                {"id": uuid_or(quote_id, _quote_missing(quote_id)), "t": who.tenant},
            )
        ).first()
        if row is None:
            raise _quote_missing(quote_id)
        return row

    async def stored_quote(conn: AsyncConnection, body: QuoteRequest, who: Principal) -> Any:
        try:
            stored: StoredQuote = await price_and_store(
                conn,
                resource_id=body.resource_id,
                venue_id=body.venue_id,
                tenant=who.tenant,
                party=PartyMix(body.party.adults, body.party.children, body.party.infants),
                stay=body.stay(),
                window=body.window(),
                now=await db_now(conn),
            )
        except PricingRuleBroken as broken:
            raise _refused(broken) from None
        return await load_quote(conn, stored.id, who)

    @api.post("/rate-plans", status_code=201, response_model=RatePlanPublic)
    async def create_rate_plan(
        body: RatePlanCreate,
        request: Request,
        response: Response,
        who: Admin,
        bearer: BearerToken,
    ) -> RatePlanPublic:
        """A rate plan for a resource (or group) or for every resource of a venue (admin), of
        the caller's own tenant (422 otherwise)."""
        plan = PlanSpec(**body.model_dump(include=set(PlanSpec.model_fields))).to_domain()
        await check_owned(inventory, body, bearer.credentials if bearer else None)
        plan_id = str(uuid.uuid4())
        async with engine.begin() as conn:
            row = (
                await conn.execute(
                    text(
                        "INSERT INTO rate_plans (id, tenant_id, resource_id, venue_id, name, "
                        "currency, spec) VALUES (:id, :t, :r, :v, :n, :c, CAST(:spec AS jsonb)) "
                        f"RETURNING {PLAN_COLUMNS}"
                    ),
                    {
                        "id": plan_id,
                        "t": who.tenant,
                        "r": body.resource_id,
                        "v": body.venue_id,
                        "n": body.name,
                        "c": plan.currency,
                        "spec": json.dumps(plan.to_json()),
                    },
                )
            ).one()
            created = _plan_public(row)
            await audit.record_change(conn, request, who, "rate_plan", "create", None, created)
        response.headers["Location"] = f"/api/v1/rate-plans/{plan_id}"
        return created

    @api.get("/rate-plans", response_model=list[RatePlanPublic])
    async def list_rate_plans(
        who: Caller,
        resource_id: Annotated[str | None, Query(max_length=64)] = None,
        venue_id: Annotated[str | None, Query(max_length=64)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> list[RatePlanPublic]:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text(
                    f"SELECT {PLAN_COLUMNS} FROM rate_plans WHERE tenant_id = :t "
                    "AND (CAST(:r AS text) IS NULL OR resource_id = :r) "
                    "AND (CAST(:v AS text) IS NULL OR venue_id = :v) "
                    "ORDER BY created_at DESC LIMIT :limit"
                ),
                {"t": who.tenant, "r": resource_id, "v": venue_id, "limit": limit},
            )
            return [_plan_public(r) for r in rows]

    @api.get("/rate-plans/{plan_id}", response_model=RatePlanPublic)
    async def get_rate_plan(plan_id: PathId, who: Caller) -> RatePlanPublic:
        async with engine.connect() as conn:
            return await _plan(conn, plan_id, who)

    @api.put("/rate-plans/{plan_id}", response_model=RatePlanPublic)
    async def replace_rate_plan(
        plan_id: PathId, body: PlanSpec, request: Request, who: Admin
    ) -> RatePlanPublic:
        """Replace a plan's prices and policies (a new version). Quotes and bookings keep the
        snapshot they were priced with."""
        plan = body.to_domain()
        async with engine.begin() as conn:
            before = await _plan(conn, plan_id, who, lock=True)
            row = (
                await conn.execute(
                    text(
                        "UPDATE rate_plans SET spec = CAST(:spec AS jsonb), currency = :c, "
                        "version = version + 1, updated_at = now() "
                        "WHERE id = CAST(:id AS uuid) AND tenant_id = :t "
                        f"RETURNING {PLAN_COLUMNS}"
                    ),
                    {
                        "id": uuid_or(plan_id, _plan_missing(plan_id)),
                        "t": who.tenant,
                        "c": plan.currency,
                        "spec": json.dumps(plan.to_json()),
                    },
                )
            ).one()
            replaced = _plan_public(row)
            await audit.record_change(conn, request, who, "rate_plan", "replace", before, replaced)
        return replaced

    @api.delete("/rate-plans/{plan_id}", status_code=204)
    async def deactivate_rate_plan(plan_id: PathId, request: Request, who: Admin) -> Response:
        """Stop using a plan for new quotes (existing quotes are unaffected)."""
        async with engine.begin() as conn:
            before = await _plan(conn, plan_id, who, lock=True)
            row = (
                await conn.execute(
                    text(
                        "UPDATE rate_plans SET active = false, updated_at = now() "
                        f"WHERE id = CAST(:id AS uuid) RETURNING {PLAN_COLUMNS}"
                    ),
                    {"id": before.id},
                )
            ).one()
            await audit.record_change(
                conn, request, who, "rate_plan", "deactivate", before, _plan_public(row)
            )
        return Response(status_code=204)

    @api.get("/rate-plans/{plan_id}/audit", response_model=list[AuditEntry])
    async def rate_plan_audit(plan_id: PathId, who: Admin) -> list[AuditEntry]:
        """Every change made to the plan (prices and policies) through this API: who, from
        where (client address, user agent), when, and the values before and after."""
        found = await get_rate_plan(plan_id, who)  # the tenant's own, or 404
        async with engine.connect() as conn:
            return await audit.trail(conn, "rate_plan", found.id)

    @api.post("/quotes", status_code=201, response_model=QuotePublic)
    async def create_quote(body: QuoteRequest, response: Response, who: Caller) -> QuotePublic:
        """Price a stay or a timeslot: line items, totals, and the cancellation policy that a
        booking made from this quote would keep."""
        async with engine.begin() as conn:
            row = await stored_quote(conn, body, who)
        response.headers["Location"] = f"/api/v1/quotes/{row.id}"
        return _quote_public(row)

    @api.get("/quotes/{quote_id}", response_model=QuotePublic)
    async def get_quote(quote_id: PathId, who: Caller) -> QuotePublic:
        async with engine.connect() as conn:
            return _quote_public(await load_quote(conn, quote_id, who))

    @api.post("/quotes/{quote_id}/refund", response_model=RefundPublic)
    async def refund_for(quote_id: PathId, body: RefundRequest, who: Caller) -> RefundPublic:
        """What cancelling refunds, from the quote's policy snapshot (never the plan's current
        policy) and the time of cancellation. A read: nothing is refunded here."""
        async with engine.connect() as conn:
            row = await load_quote(conn, quote_id, who)
            now = body.at or await db_now(conn)
        if body.starts_at.tzinfo is None or (body.at is not None and body.at.tzinfo is None):
            raise Problem(422, "naive-time", "Times need a UTC offset", "e.g. 2027-05-01T15:00Z")
        total = _total(row)
        paid = Decimal(body.paid) if body.paid is not None else total
        if paid > total:
            raise Problem(
                422, "refund-above-paid", "More than the quote", f"paid is at most {total}."
            )
        try:
            result = refund_quote(
                policy_of(row.doc),
                paid=paid,
                currency=row.currency,
                starts_at=body.starts_at,
                now=now,
            )
        except PricingRuleBroken as broken:
            raise _refused(broken) from None
        return RefundPublic(
            quote_id=row.id,
            currency=row.currency,
            paid=str(result.paid),
            hours_before_start=str(result.hours_before_start),
            refund_percent=str(result.refund_percent),
            refundable=str(result.refundable),
            cancellation_policy=row.doc["cancellation_policy"],
        )

    @api.post("/quotes/{quote_id}/modification", response_model=ModificationPublic)
    async def modification(quote_id: PathId, body: QuoteRequest, who: Caller) -> ModificationPublic:
        """Price the modified booking (a new quote at today's plan) and the difference to the
        old quote: positive to charge, negative to refund."""
        async with engine.begin() as conn:
            old = await load_quote(conn, quote_id, who)
            new = await stored_quote(conn, body, who)
        try:
            diff = modification_difference(_total(old), old.currency, _total(new), new.currency)
        except PricingRuleBroken as broken:
            raise _refused(broken) from None
        return ModificationPublic(
            old_quote_id=old.id,
            new_quote=_quote_public(new),
            difference=str(diff.amount),
            action=diff.action,  # type: ignore[arg-type]
            currency=diff.currency,
        )

    return api
