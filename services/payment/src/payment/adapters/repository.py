"""Payment rows and the provider call log."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from payment.domain.payments import PaymentStatus, ProviderResult


@dataclass(frozen=True)
class PaymentRow:
    id: str
    booking_id: str
    amount: Decimal
    currency: str
    provider_ref: str
    status: PaymentStatus
    decline_code: str | None


async def for_booking(conn: AsyncConnection, booking_id: str) -> PaymentRow | None:
    row = (
        await conn.execute(
            text(
                "SELECT id::text, booking_id, amount, currency, provider_ref, status, decline_code "
                "FROM payments WHERE booking_id = :b FOR UPDATE"
            ),
            {"b": booking_id},
        )
    ).first()
    if row is None:
        return None
    return PaymentRow(
        row.id,
        row.booking_id,
        row.amount,
        row.currency,
        row.provider_ref,
        PaymentStatus(row.status),
        row.decline_code,
    )


async def set_status(conn: AsyncConnection, payment_id: str, status: PaymentStatus) -> None:
    await conn.execute(
        text("UPDATE payments SET status = :s, updated_at = now() WHERE id = :id"),
        {"s": status.value, "id": payment_id},
    )


async def log_call(
    conn: AsyncConnection, payment_id: str, operation: str, key: str, result: ProviderResult
) -> None:
    await conn.execute(
        text(
            "INSERT INTO provider_calls (payment_id, operation, idempotency_key, result) "
            "VALUES (:p, :o, :k, CAST(:r AS jsonb))"
        ),
        {"p": payment_id, "o": operation, "k": key, "r": json.dumps(asdict(result))},
    )
