"""Finding the plan in force and storing quotes: the one path REST quotes and the saga share."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from pricing.domain.money import NoRatePlan
from pricing.domain.plans import Basis, CancellationPolicy, RatePlan
from pricing.domain.quotes import PartyMix, Priced, Stay, Window, quote

PLAN_COLUMNS = (
    "id::text, tenant_id, resource_id, venue_id, name, currency, spec, version, active, "
    "created_at, updated_at"
)


async def plan_in_force(
    conn: AsyncConnection, resource_id: str, venue_id: str | None, tenant: str | None
) -> Any:
    """The newest active plan of the resource, else of its venue, among ``tenant``'s plans only
    (venue names are per tenant, and a plan can only be made for the tenant's own resources).

    ``tenant`` None: a command from an orchestrator older than tenant-scoped commands (a rolling
    upgrade). Only a plan made for that very resource prices it (resource ids are unique, and
    plans are only made for the owner's resources); a venue's plan never does, since venue
    names are not unique across tenants."""
    row = (
        await conn.execute(
            text(
                f"SELECT {PLAN_COLUMNS} FROM rate_plans WHERE active "
                "AND (resource_id = :r OR (CAST(:v AS text) IS NOT NULL AND venue_id = :v "
                "     AND CAST(:t AS text) IS NOT NULL)) "
                "AND (CAST(:t AS text) IS NULL OR tenant_id = :t) "
                "ORDER BY (resource_id IS NULL), created_at DESC LIMIT 1"
            ),
            {"r": resource_id, "v": venue_id, "t": tenant},
        )
    ).first()
    if row is None:
        raise NoRatePlan(
            f"no active rate plan for resource {resource_id}"
            + (f" or venue {venue_id}" if venue_id else "")
        )
    return row


def quote_doc(priced: Priced) -> dict[str, Any]:
    return {
        "currency": priced.currency,
        "lines": [ln.to_json() for ln in priced.lines],
        "subtotal": str(priced.subtotal),
        "discounts": str(priced.discounts),
        "fees": str(priced.fees),
        "taxes": str(priced.taxes),
        "taxes_included": str(priced.taxes_included),
        "total": str(priced.total),
        "cancellation_policy": priced.policy.to_json(),
    }


@dataclass(frozen=True)
class StoredQuote:
    id: str
    plan_id: str
    plan_version: int
    priced: Priced
    nights: int
    nightly_rate: Decimal | None
    valid_until: datetime
    doc: dict[str, Any]


async def price_and_store(
    conn: AsyncConnection,
    *,
    resource_id: str,
    venue_id: str | None,
    tenant: str | None,
    party: PartyMix,
    stay: Stay | None,
    window: Window | None,
    now: datetime,
    booking_id: str | None = None,
    quote_key: str | None = None,
) -> StoredQuote:
    plan_row = await plan_in_force(conn, resource_id, venue_id, tenant)
    plan = RatePlan.from_json(plan_row.spec)
    priced = quote(plan, party=party, stay=stay, window=window)
    nights = len(stay.nights) if stay else 0
    charges = {ln.unit_price for ln in priced.lines if ln.kind == "charge"}
    nightly = (
        charges.pop() if stay and plan.basis is Basis.PER_NIGHT and len(charges) == 1 else None
    )
    valid_until = now + timedelta(minutes=plan.quote_valid_minutes)
    doc = quote_doc(priced) | {
        "request": {
            "resource_id": resource_id,
            "venue_id": venue_id,
            "party": {"adults": party.adults, "children": party.children, "infants": party.infants},
            "stay": {"check_in": stay.check_in.isoformat(), "check_out": stay.check_out.isoformat()}
            if stay
            else None,
            "window": {
                "starts_at": window.starts_at.isoformat(),
                "ends_at": window.ends_at.isoformat(),
                "timezone": window.timezone,
            }
            if window
            else None,
        },
        "rate_plan": {"id": plan_row.id, "version": plan_row.version, "name": plan_row.name},
    }
    quote_id = str(uuid.uuid4())
    await conn.execute(
        text(
            "INSERT INTO quotes (id, tenant_id, booking_id, quote_key, resource_id, rate_plan_id, "
            "rate_plan_version, nights, nightly_rate, total, currency, doc, valid_until, created_at) "
            "VALUES (:id, :t, :b, :k, :r, :p, :pv, :n, :nr, :total, :c, CAST(:doc AS jsonb), "
            ":until, :now)"
        ),
        {
            "id": quote_id,
            "t": plan_row.tenant_id,
            "b": booking_id,
            "k": quote_key,
            "r": resource_id,
            "p": plan_row.id,
            "pv": plan_row.version,
            "n": nights,
            "nr": nightly,
            "total": priced.total,
            "c": priced.currency,
            "doc": json.dumps(doc),
            "until": valid_until,
            "now": now,
        },
    )
    return StoredQuote(
        quote_id, plan_row.id, plan_row.version, priced, nights, nightly, valid_until, doc
    )


def policy_of(doc: dict[str, Any]) -> CancellationPolicy:
    """The policy snapshot a quote was taken under (never the plan's current one)."""
    return CancellationPolicy.from_json(doc["cancellation_policy"])
