"""Payment REST for staff and the gateway, and the provider webhook.

Staff of a tenant see that tenant's payments; every other id answers 404. Moving money needs
an admin: refunds and verifying a bank transfer. Refunds need an ``Idempotency-Key``: the same
key refunds once and answers the same refund again.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from contracts.base import CURRENCY_EXPONENTS, DecimalStr, to_minor_units
from messaging import tenancy
from payment.adapters import repository
from payment.adapters.desk import PaymentDesk
from payment.adapters.repository import PaymentRow
from payment.adapters.simulated_card import SIGNATURE_HEADER, BadSignature, verify
from payment.domain.payments import (
    IdempotencyKeyReused,
    InvalidAmount,
    PaymentRuleBroken,
    PaymentStatus,
    RefundExceedsCaptured,
)
from payment.settings import PaymentSettings
from service_kit.auth import Admin, Principal, Staff
from service_kit.clock import db_now
from service_kit.fields import PathId
from service_kit.problems import Problem, uuid_or
from service_kit.runtime import Wiring

log = logging.getLogger(__name__)


class RefundPublic(BaseModel):
    id: str
    amount: DecimalStr
    reason: str
    requested_by: str | None
    created_at: datetime


class PaymentPublic(BaseModel):
    id: str
    booking_id: str
    amount: DecimalStr
    currency: str
    payment_method: str
    provider: str
    status: str
    decline_code: str | None
    captured_amount: DecimalStr
    refunded_amount: DecimalStr
    next_action: str | None = Field(description="what the guest must do while requires_action")
    pay_by: datetime | None
    verified_at: datetime | None
    verified_by: str | None
    late: bool = Field(description="money arrived after the payment was canceled")
    refunds: list[RefundPublic] = []
    created_at: datetime
    updated_at: datetime


class RefundIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    amount: str = Field(pattern=r"^\d{1,12}(\.\d{1,6})?$", examples=["25.00"])
    reason: str = Field(default="", max_length=500)


class RefundCreated(BaseModel):
    refund: RefundPublic
    payment: PaymentPublic


class ProviderCall(BaseModel):
    operation: str
    provider: str | None
    idempotency_key: str
    result: dict[str, Any] | None
    error: str | None
    duration_ms: int | None
    created_at: datetime


def _missing(payment_id: str) -> Problem:
    return Problem(404, "payment-not-found", "Payment not found", f"No payment {payment_id}.")


def _rule_problem(broken: PaymentRuleBroken) -> Problem:
    unprocessable = RefundExceedsCaptured | IdempotencyKeyReused | InvalidAmount
    status = 422 if isinstance(broken, unprocessable) else 409
    return Problem(status, broken.code.replace("_", "-"), "Refused", str(broken))


def router(wiring: Wiring, desk: PaymentDesk) -> APIRouter:
    api = APIRouter(prefix="/api/v1", tags=["payment"])
    engine = wiring.engine
    settings = wiring.settings
    assert isinstance(settings, PaymentSettings)

    async def public(conn: AsyncConnection, p: PaymentRow) -> PaymentPublic:
        refunds = await conn.execute(
            text(
                "SELECT id::text, amount, reason, requested_by, created_at FROM refunds "
                "WHERE payment_id = CAST(:p AS uuid) ORDER BY created_at, id"
            ),
            {"p": p.id},
        )
        return PaymentPublic(
            **{k: v for k, v in p.__dict__.items() if k in PaymentPublic.model_fields},
            refunds=[
                RefundPublic(
                    **(dict(r._mapping) | {"amount": to_minor_units(r.amount, p.currency)})
                )
                for r in refunds
            ],
        )

    async def visible(
        conn: AsyncConnection, payment_id: str, who: Principal, *, lock: bool
    ) -> PaymentRow:
        p = await repository.by_id(conn, uuid_or(payment_id, _missing(payment_id)), lock=lock)
        if p is None or p.tenant_id != who.tenant:
            raise _missing(payment_id)
        return p

    @api.get("/payments", response_model=list[PaymentPublic])
    async def list_payments(
        who: Staff,
        booking_id: Annotated[str | None, Query(max_length=64)] = None,
        status: Annotated[PaymentStatus | None, Query()] = None,
        provider: Annotated[str | None, Query(max_length=40)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> list[PaymentPublic]:
        """The tenant's payments, newest first, by booking, status or provider."""
        async with engine.connect() as conn:
            rows = await conn.execute(
                text(
                    f"SELECT {repository.COLUMNS} FROM payments WHERE tenant_id = :t "
                    "AND (CAST(:b AS text) IS NULL OR booking_id = :b) "
                    "AND (CAST(:s AS text) IS NULL OR status = :s) "
                    "AND (CAST(:p AS text) IS NULL OR provider = :p) "
                    "ORDER BY created_at DESC, id LIMIT :limit"
                ),
                {
                    "t": who.tenant,
                    "b": booking_id,
                    "s": status.value if status else None,
                    "p": provider,
                    "limit": limit,
                },
            )
            return [await public(conn, PaymentRow.of(r)) for r in rows.all()]

    @api.get("/bookings/{booking_id}/payment", response_model=PaymentPublic)
    async def payment_of_booking(booking_id: PathId, who: Staff) -> PaymentPublic:
        """The payment of a booking (one per booking)."""
        async with engine.connect() as conn:
            p = await repository.for_booking(conn, booking_id, lock=False)
            if p is None or p.tenant_id != who.tenant:
                raise Problem(
                    404, "payment-not-found", "Payment not found", f"No payment for {booking_id}."
                )
            return await public(conn, p)

    @api.get("/payments/{payment_id}", response_model=PaymentPublic)
    async def get_payment(payment_id: PathId, who: Staff) -> PaymentPublic:
        async with engine.connect() as conn:
            return await public(conn, await visible(conn, payment_id, who, lock=False))

    @api.get("/payments/{payment_id}/provider-calls", response_model=list[ProviderCall])
    async def provider_calls(payment_id: PathId, who: Staff) -> list[ProviderCall]:
        """Every call made to the provider for this payment, failed ones included."""
        async with engine.connect() as conn:
            p = await visible(conn, payment_id, who, lock=False)
            rows = await conn.execute(
                text(
                    "SELECT operation, provider, idempotency_key, result, error, duration_ms, "
                    "created_at FROM provider_calls WHERE booking_id = :b ORDER BY id"
                ),
                {"b": p.booking_id},
            )
            return [ProviderCall(**r._mapping) for r in rows]

    @api.post("/payments/{payment_id}/verify", response_model=PaymentPublic)
    async def verify_transfer(payment_id: PathId, who: Admin) -> PaymentPublic:
        """An admin confirms a bank transfer arrived: captured, with who and when. After the
        payment deadline this is a late payment (``late``), which the booking saga settles."""
        async with engine.begin() as conn:
            p = await visible(conn, payment_id, who, lock=True)
            try:
                p = await desk.verify_transfer(conn, p, by=who.subject, now=await db_now(conn))
            except PaymentRuleBroken as broken:
                raise _rule_problem(broken) from None
            return await public(conn, p)

    @api.post(
        "/payments/{payment_id}/refunds",
        status_code=201,
        response_model=RefundCreated,
        responses={428: {}},
    )
    async def refund(
        payment_id: PathId,
        body: RefundIn,
        who: Admin,
        response: Response,
        idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    ) -> RefundCreated:
        """Refund part or all of what was captured (several refunds add up, never past it)."""
        if not idempotency_key or not idempotency_key.strip():
            raise Problem(
                428, "idempotency-key-required", "Idempotency-Key required", "Send one per refund."
            )
        async with engine.begin() as conn:
            p = await visible(conn, payment_id, who, lock=True)
            amount = Decimal(body.amount)
            if amount != to_minor_units(amount, p.currency):
                raise Problem(
                    422,
                    "invalid-amount",
                    "Invalid amount",
                    f"{p.currency} amounts have at most {CURRENCY_EXPONENTS[p.currency]} decimals.",
                )
            try:
                made = await desk.refund(
                    conn,
                    p,
                    amount=amount,
                    key=f"rest:{idempotency_key.strip()}",
                    reason=body.reason,
                    requested_by=who.subject,
                )
            except PaymentRuleBroken as broken:
                raise _rule_problem(broken) from None
            fresh = await repository.by_id(conn, p.id, lock=False)
            assert fresh is not None
            shown = await public(conn, fresh)
        if not made.created:
            response.status_code = 200
            response.headers["Idempotent-Replayed"] = "true"
        [made_refund] = [r for r in shown.refunds if r.id == made.refund_id]
        return RefundCreated(refund=made_refund, payment=shown)

    @api.post(
        "/webhooks/simulated-card",
        include_in_schema=True,
        tags=["webhooks"],
        responses={400: {}, 503: {}},
    )
    async def simulated_card_webhook(request: Request) -> dict[str, str]:
        """The simulated card provider's events, signed with ``PAYMENT_SIM_WEBHOOK_SECRET``
        (header ``Simulated-Signature``). Each event id counts once; a replay answers 200 and
        changes nothing; a bad or stale signature is 400 and writes nothing."""
        secret = settings.sim_webhook_secret
        if secret is None:
            raise Problem(503, "webhook-not-configured", "Webhook not configured")
        body = await request.body()
        try:
            event = verify(
                secret.get_secret_value(),
                body,
                request.headers.get(SIGNATURE_HEADER),
                tolerance_s=settings.webhook_tolerance_s,
            )
        except BadSignature as bad:
            raise Problem(400, "bad-signature", "Signature refused", str(bad)) from None
        # The provider (signature checked) speaks for the platform: its event names a payment
        # of whichever tenant, found by the provider's reference.
        tenancy.act_for(None)
        async with engine.begin() as conn:
            fresh = (
                await conn.execute(
                    text(
                        "INSERT INTO provider_events (provider, event_id, type, payload) "
                        "VALUES ('simulated_card', :id, :type, CAST(:payload AS jsonb)) "
                        "ON CONFLICT DO NOTHING RETURNING 1"
                    ),
                    {"id": event["id"], "type": event["type"], "payload": json.dumps(event)},
                )
            ).first()
            if fresh is None:
                return {"status": "duplicate"}
            if event["type"] not in ("payment_intent.succeeded", "payment_intent.payment_failed"):
                return {"status": "ignored"}
            p = await desk.complete_action(
                conn,
                "simulated_card",
                event["data"]["provider_ref"],
                event["type"] == "payment_intent.succeeded",
            )
        if p is None:
            log.warning("webhook %s names no known payment", event["id"])
            return {"status": "unknown_payment"}
        return {"status": "processed"}

    return api
