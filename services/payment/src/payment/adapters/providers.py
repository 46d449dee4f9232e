"""The providers behind the one port, which payment method goes to which, and the call log.

Every provider call is recorded in ``provider_calls`` in its own short transaction, so a call
that failed or timed out is on record even when the handler's transaction rolls back.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from payment.adapters.simulated_card import SimulatedCardProvider
from payment.domain.payments import Outcome, PaymentProvider, ProviderResult

BANK_TRANSFER = "bank_transfer"


class BankTransferProvider:
    """A transfer the guest makes from their bank. Authorizing only issues the instructions
    (a reference to quote); staff verify the money arrived through REST, which captures it.
    No money moves on its own, so every call is a pure function of its key."""

    name = "bank_transfer"

    def __init__(self, iban: str = "PT50 0000 0000 0000 0000 0000 0") -> None:
        self.iban = iban

    async def authorize(
        self, *, payment_method: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> ProviderResult:
        ref = "BT-" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:10].upper()
        return ProviderResult(
            Outcome.REQUIRES_ACTION,
            ref,
            next_action=f"transfer {amount} {currency} to {self.iban} quoting {ref}",
        )

    async def capture(
        self, *, provider_ref: str, amount: Decimal, idempotency_key: str
    ) -> ProviderResult:
        return ProviderResult(Outcome.SUCCEEDED, provider_ref)

    async def void(self, *, provider_ref: str, idempotency_key: str) -> ProviderResult:
        return ProviderResult(Outcome.SUCCEEDED, provider_ref)

    async def refund(
        self, *, provider_ref: str, amount: Decimal, idempotency_key: str
    ) -> ProviderResult:
        ref = "BTR-" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:10].upper()
        return ProviderResult(Outcome.SUCCEEDED, ref)


class RecordingProvider:
    """Wraps a provider; logs every call (result or error, duration) for the payment's record."""

    def __init__(self, inner: PaymentProvider, engine: AsyncEngine) -> None:
        self._inner = inner
        self._engine = engine
        self.name = inner.name

    async def _record(self, operation: str, key: str, call: Any) -> ProviderResult:
        started = time.perf_counter()
        result: ProviderResult | None = None
        error: str | None = None
        try:
            result = await call
            return result
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            async with self._engine.begin() as conn:
                await conn.execute(
                    text(
                        "INSERT INTO provider_calls (booking_id, provider, operation, "
                        "idempotency_key, result, error, duration_ms) "
                        "VALUES (:b, :p, :o, :k, CAST(:r AS jsonb), :e, :ms)"
                    ),
                    {
                        "b": key.split(":", 1)[0],
                        "p": self.name,
                        "o": operation,
                        "k": key,
                        "r": json.dumps(asdict(result)) if result else None,
                        "e": error,
                        "ms": int((time.perf_counter() - started) * 1000),
                    },
                )

    async def authorize(
        self, *, payment_method: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> ProviderResult:
        return await self._record(
            "authorize",
            idempotency_key,
            self._inner.authorize(
                payment_method=payment_method,
                amount=amount,
                currency=currency,
                idempotency_key=idempotency_key,
            ),
        )

    async def capture(
        self, *, provider_ref: str, amount: Decimal, idempotency_key: str
    ) -> ProviderResult:
        return await self._record(
            "capture",
            idempotency_key,
            self._inner.capture(
                provider_ref=provider_ref, amount=amount, idempotency_key=idempotency_key
            ),
        )

    async def void(self, *, provider_ref: str, idempotency_key: str) -> ProviderResult:
        return await self._record(
            "void",
            idempotency_key,
            self._inner.void(provider_ref=provider_ref, idempotency_key=idempotency_key),
        )

    async def refund(
        self, *, provider_ref: str, amount: Decimal, idempotency_key: str
    ) -> ProviderResult:
        return await self._record(
            "refund",
            idempotency_key,
            self._inner.refund(
                provider_ref=provider_ref, amount=amount, idempotency_key=idempotency_key
            ),
        )


class Providers:
    """Which provider serves a payment method, and by name for later calls."""

    def __init__(self, engine: AsyncEngine, *, test_methods: bool) -> None:
        card = RecordingProvider(SimulatedCardProvider(engine), engine)
        bank = RecordingProvider(BankTransferProvider(), engine)
        self._by_name: dict[str, RecordingProvider] = {card.name: card, bank.name: bank}
        self._test_methods = test_methods

    def for_method(self, payment_method: str) -> RecordingProvider | None:
        """The provider that takes a new payment by ``payment_method``; None when no enabled
        provider does (the simulated card's test methods are off unless enabled). Payments
        already made keep their provider (``named``), so they can still be voided or
        refunded."""
        if payment_method == BANK_TRANSFER:
            return self._by_name["bank_transfer"]
        return self._by_name["simulated_card"] if self._test_methods else None

    def named(self, name: str) -> RecordingProvider:
        return self._by_name[name]
