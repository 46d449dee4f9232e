"""The payment lifecycle and the provider port. Pure.

Statuses: ``authorized`` → ``captured``; ``authorized`` → ``voided``; ``declined`` is terminal.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Protocol


class PaymentStatus(StrEnum):
    AUTHORIZED = "authorized"
    DECLINED = "declined"
    CAPTURED = "captured"
    VOIDED = "voided"


class PaymentRuleBroken(Exception):
    code = "payment_rule_broken"


class NotCapturable(PaymentRuleBroken):
    code = "not_capturable"


class NotVoidable(PaymentRuleBroken):
    code = "not_voidable"


@dataclass(frozen=True)
class ProviderResult:
    approved: bool
    provider_ref: str
    decline_code: str | None = None


class CardProvider(Protocol):
    """A payment provider. ``idempotency_key`` makes a repeated call return the first result."""

    name: str

    def authorize(
        self, *, payment_method: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> ProviderResult: ...

    def capture(self, *, provider_ref: str, idempotency_key: str) -> ProviderResult: ...

    def void(self, *, provider_ref: str, idempotency_key: str) -> ProviderResult: ...


def next_status_on_capture(status: PaymentStatus) -> PaymentStatus:
    if status in (PaymentStatus.AUTHORIZED, PaymentStatus.CAPTURED):
        return PaymentStatus.CAPTURED
    raise NotCapturable(f"a {status} payment cannot be captured")


def needs_void(status: PaymentStatus) -> bool:
    """Whether voiding has anything to do; a captured payment cannot be voided (refund it)."""
    if status is PaymentStatus.CAPTURED:
        raise NotVoidable("a captured payment cannot be voided (refund it instead)")
    return status is PaymentStatus.AUTHORIZED
