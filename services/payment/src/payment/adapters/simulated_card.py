"""A simulated card provider with its own ledger, for local runs and tests.

It behaves like a real card API where it matters to us: every call carries an idempotency key,
the provider remembers each key's result in its own storage (schema ``simulated_provider``,
written in its own transactions, independent of ours), and a repeated key returns the first
result without moving money again.

Test payment methods:

==================================  ==============================================================
``pm_card_visa``, ``pm_card_mastercard``  approved
``pm_card_declined``                declined: ``card_declined``
``pm_card_insufficient_funds``      declined: ``insufficient_funds``
``pm_card_requires_action``         needs 3-D Secure: ``requires_action`` now; the provider's
                                    signed webhook later says ``payment_intent.succeeded`` or
                                    ``payment_intent.payment_failed``
``pm_card_timeout_after_success``   approved, but the first call times out after the provider
                                    recorded the charge (the answer is lost); a retry with the
                                    same key returns that charge
anything else                       declined: ``unknown_payment_method``
==================================  ==============================================================

Webhooks are signed like the common providers do: header ``Simulated-Signature:
t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`` with the shared webhook secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from payment.domain.payments import Outcome, ProviderResult, ProviderTimeout

SIGNATURE_HEADER = "Simulated-Signature"
_APPROVED = {"pm_card_visa", "pm_card_mastercard", "pm_card_timeout_after_success"}
_DECLINED = {
    "pm_card_declined": "card_declined",
    "pm_card_insufficient_funds": "insufficient_funds",
    "pm_card_insufficient": "insufficient_funds",
}


def _ref(prefix: str, key: str) -> str:
    return f"{prefix}_{hashlib.sha256(key.encode()).hexdigest()[:24]}"


class SimulatedCardProvider:
    name = "simulated_card"

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def _once(
        self,
        key: str,
        operation: str,
        result: ProviderResult,
        amount: Decimal | None = None,
        currency: str | None = None,
        lose_answer: bool = False,
    ) -> ProviderResult:
        """Record ``result`` for ``key`` unless the key is known; answer the recorded one."""
        async with self._engine.begin() as conn:
            inserted = (
                await conn.execute(
                    text(
                        "INSERT INTO simulated_provider.operations (idempotency_key, operation, "
                        "provider_ref, outcome, decline_code, next_action, amount, currency) "
                        "VALUES (:k, :op, :ref, :o, :d, :n, :a, :c) "
                        "ON CONFLICT (idempotency_key) DO NOTHING RETURNING 1"
                    ),
                    {
                        "k": key,
                        "op": operation,
                        "ref": result.provider_ref,
                        "o": result.outcome.value,
                        "d": result.decline_code,
                        "n": result.next_action,
                        "a": amount,
                        "c": currency,
                    },
                )
            ).first()
            row = (
                await conn.execute(
                    text(
                        "SELECT provider_ref, outcome, decline_code, next_action "
                        "FROM simulated_provider.operations WHERE idempotency_key = :k"
                    ),
                    {"k": key},
                )
            ).one()
        if inserted is not None and lose_answer:
            raise ProviderTimeout(f"{operation} timed out after the provider acted")
        return ProviderResult(
            Outcome(row.outcome), row.provider_ref, row.decline_code, row.next_action
        )

    async def authorize(
        self, *, payment_method: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> ProviderResult:
        ref = _ref("pi", idempotency_key)
        if payment_method in _APPROVED:
            result = ProviderResult(Outcome.SUCCEEDED, ref)
        elif payment_method == "pm_card_requires_action":
            result = ProviderResult(
                Outcome.REQUIRES_ACTION, ref, next_action=f"https://3ds.simulated.invalid/{ref}"
            )
        else:
            code = _DECLINED.get(payment_method, "unknown_payment_method")
            result = ProviderResult(Outcome.DECLINED, ref, code)
        return await self._once(
            idempotency_key,
            "authorize",
            result,
            amount,
            currency,
            lose_answer=payment_method == "pm_card_timeout_after_success",
        )

    async def capture(
        self, *, provider_ref: str, amount: Decimal, idempotency_key: str
    ) -> ProviderResult:
        return await self._once(
            idempotency_key, "capture", ProviderResult(Outcome.SUCCEEDED, provider_ref), amount
        )

    async def void(self, *, provider_ref: str, idempotency_key: str) -> ProviderResult:
        return await self._once(
            idempotency_key, "void", ProviderResult(Outcome.SUCCEEDED, provider_ref)
        )

    async def refund(
        self, *, provider_ref: str, amount: Decimal, idempotency_key: str
    ) -> ProviderResult:
        return await self._once(
            idempotency_key,
            "refund",
            ProviderResult(Outcome.SUCCEEDED, _ref("re", idempotency_key)),
            amount,
        )


# -- webhooks ----------------------------------------------------------------------------------


def webhook_event(provider_ref: str, succeeded: bool, event_id: str | None = None) -> bytes:
    """The body the simulated provider posts when a customer action completes."""
    return json.dumps(
        {
            "id": event_id or f"evt_{uuid.uuid4().hex}",
            "type": "payment_intent.succeeded" if succeeded else "payment_intent.payment_failed",
            "created": int(time.time()),
            "data": {"provider_ref": provider_ref},
        }
    ).encode()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


class BadSignature(Exception):
    pass


def verify(
    secret: str, body: bytes, header: str | None, *, tolerance_s: int = 300
) -> dict[str, Any]:
    """The event, if ``header`` signs ``body`` with ``secret`` within the tolerance; else
    ``BadSignature`` (the message says why, never the secret)."""
    if not header:
        raise BadSignature("missing signature")
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        parts.setdefault(name, []).append(value)
    try:
        t = int(parts["t"][0])
    except (KeyError, ValueError):
        raise BadSignature("malformed signature header") from None
    if abs(time.time() - t) > tolerance_s:
        raise BadSignature("signature timestamp outside the tolerance (replayed or delayed)")
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, v) for v in parts.get("v1", [])):
        raise BadSignature("signature does not match")
    try:
        event = json.loads(body)
        event["id"], event["type"], event["data"]["provider_ref"]
    except (ValueError, KeyError, TypeError):
        raise BadSignature("signed body is not an event") from None
    return event
