"""Payment REST: look up payments for staff and the gateway."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import Row, text

from contracts.base import DecimalStr, to_minor_units
from service_kit.problems import Problem, uuid_or
from service_kit.runtime import Wiring


class PaymentPublic(BaseModel):
    id: str
    booking_id: str
    amount: DecimalStr
    currency: str
    payment_method: str
    provider: str
    status: str
    decline_code: str | None
    created_at: datetime
    updated_at: datetime


_COLUMNS = (
    "id::text, booking_id, amount, currency, payment_method, provider, status, decline_code, "
    "created_at, updated_at"
)


def _public(row: Row[Any]) -> PaymentPublic:
    data = dict(row._mapping)
    data["amount"] = to_minor_units(data["amount"], data["currency"])
    return PaymentPublic(**data)


def router(wiring: Wiring) -> APIRouter:
    api = APIRouter(prefix="/api/v1", tags=["payment"])
    engine = wiring.engine

    @api.get("/payments", response_model=list[PaymentPublic])
    async def list_payments(
        booking_id: Annotated[str | None, Query(max_length=64)] = None,
        status: Annotated[str | None, Query(max_length=20)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> list[PaymentPublic]:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text(
                    f"SELECT {_COLUMNS} FROM payments "
                    "WHERE (CAST(:b AS text) IS NULL OR booking_id = :b) "
                    "AND (CAST(:s AS text) IS NULL OR status = :s) "
                    "ORDER BY created_at DESC LIMIT :limit"
                ),
                {"b": booking_id, "s": status, "limit": limit},
            )
            return [_public(r) for r in rows]

    @api.get("/payments/{payment_id}", response_model=PaymentPublic)
    async def get_payment(payment_id: str) -> PaymentPublic:
        uuid_or(payment_id, Problem(404, "payment-not-found", "Payment not found"))
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    text(f"SELECT {_COLUMNS} FROM payments WHERE id = CAST(:id AS uuid)"),
                    {"id": payment_id},
                )
            ).first()
        if row is None:
            raise Problem(404, "payment-not-found", "Payment not found")
        return _public(row)

    return api
