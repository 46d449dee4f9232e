"""Payment rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from contracts.base import Money, to_minor_units
from payment.domain.payments import PaymentStatus
from service_kit.ids import canonical_uuid

COLUMNS = (
    "id::text, tenant_id, booking_id, payment_key, amount, currency, payment_method, provider, provider_ref, "
    "status, decline_code, captured_amount, refunded_amount, next_action, saga_step, pay_by, "
    "verified_at, verified_by, late, created_at, updated_at"
)


@dataclass(frozen=True)
class PaymentRow:
    id: str
    tenant_id: str | None
    booking_id: str
    payment_key: str  # what its provider calls are keyed by (the booking id, or a later key)
    amount: Decimal
    currency: str
    payment_method: str
    provider: str
    provider_ref: str
    status: PaymentStatus
    decline_code: str | None
    captured_amount: Decimal
    refunded_amount: Decimal
    next_action: str | None
    saga_step: str | None
    pay_by: datetime | None
    verified_at: datetime | None
    verified_by: str | None
    late: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Any) -> PaymentRow:
        data = dict(row._mapping)
        data["status"] = PaymentStatus(data["status"])
        for name in ("amount", "captured_amount", "refunded_amount"):
            data[name] = to_minor_units(data[name], data["currency"])
        return cls(**data)

    def money(self, amount: Decimal | None = None) -> Money:
        return Money.of(self.amount if amount is None else amount, self.currency)


async def _one(
    conn: AsyncConnection, where: str, params: dict[str, Any], lock: bool
) -> PaymentRow | None:
    row = (
        await conn.execute(
            text(f"SELECT {COLUMNS} FROM payments WHERE {where}" + (" FOR UPDATE" if lock else "")),
            params,
        )
    ).first()
    return PaymentRow.of(row) if row is not None else None


async def for_booking(
    conn: AsyncConnection, booking_id: str, lock: bool = True
) -> PaymentRow | None:
    """The booking's latest payment (a modification that cost more took a second one)."""
    return await _one(
        conn, "booking_id = :b ORDER BY created_at DESC, id LIMIT 1", {"b": booking_id}, lock
    )


async def by_key(conn: AsyncConnection, payment_key: str, lock: bool = True) -> PaymentRow | None:
    return await _one(conn, "payment_key = :k", {"k": payment_key}, lock)


async def of_saga(
    conn: AsyncConnection,
    booking_id: str,
    payment_id: str,
    payment_key: str,
    tenant: str | None,
) -> PaymentRow | None:
    """The payment a saga command names: by id when it has one (it must belong to the booking;
    an id that is not a UUID names none), else by key; of ``tenant`` (the command's), so another
    tenant's payment is not found. Locked."""
    if payment_id:
        canonical = canonical_uuid(payment_id)
        p = await by_id(conn, canonical) if canonical else None
        p = p if p is not None and p.booking_id == booking_id else None
    else:
        p = await by_key(conn, payment_key)
    return p if p is not None and (tenant is None or p.tenant_id == tenant) else None


async def by_id(conn: AsyncConnection, payment_id: str, lock: bool = True) -> PaymentRow | None:
    return await _one(conn, "id = CAST(:id AS uuid)", {"id": payment_id}, lock)


async def by_provider_ref(
    conn: AsyncConnection, provider: str, ref: str, lock: bool = True
) -> PaymentRow | None:
    return await _one(conn, "provider = :p AND provider_ref = :r", {"p": provider, "r": ref}, lock)


async def update(conn: AsyncConnection, payment_id: str, **changes: Any) -> None:
    sets = ", ".join(f"{name} = :{name}" for name in changes)
    values = {k: (v.value if isinstance(v, PaymentStatus) else v) for k, v in changes.items()}
    await conn.execute(
        text(f"UPDATE payments SET {sets}, updated_at = now() WHERE id = CAST(:pid AS uuid)"),
        {"pid": payment_id, **values},
    )


async def refund_by_key(conn: AsyncConnection, payment_id: str, key: str) -> Decimal | None:
    """The amount refunded under ``key`` for the payment, if any."""
    amount = await conn.scalar(
        text(
            "SELECT amount FROM refunds WHERE payment_id = CAST(:p AS uuid) "
            "AND idempotency_key = :k"
        ),
        {"p": payment_id, "k": key},
    )
    return Decimal(amount) if amount is not None else None
