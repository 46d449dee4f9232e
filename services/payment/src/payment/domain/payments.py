"""The payment intent lifecycle, refunds, and the provider port. Pure.

::

    requires_payment_method ─► requires_action ─► processing ─► authorized ─► captured
             │                      │                 │             │
             └──────────────────────┴─────────────────┴─────────────┴──► canceled / failed

* ``requires_action``: the guest must act (3-D Secure) or send a bank transfer; a signed
  provider webhook or a staff verification moves it on, a deadline cancels it.
* ``captured`` is where money has moved. Refunds (partial, several) are recorded against it and
  never exceed it: ``refunded <= captured`` holds in the domain and in a CHECK constraint.
* A bank transfer verified after its deadline canceled it is captured anyway (the money is
  there) and flagged ``late``, so the booking saga can re-acquire capacity or refund.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Protocol


class PaymentStatus(StrEnum):
    REQUIRES_PAYMENT_METHOD = "requires_payment_method"
    REQUIRES_ACTION = "requires_action"
    PROCESSING = "processing"
    AUTHORIZED = "authorized"
    CAPTURED = "captured"
    CANCELED = "canceled"
    FAILED = "failed"


S = PaymentStatus
ALLOWED: dict[PaymentStatus, frozenset[PaymentStatus]] = {
    S.REQUIRES_PAYMENT_METHOD: frozenset(
        {S.REQUIRES_ACTION, S.PROCESSING, S.AUTHORIZED, S.FAILED, S.CANCELED}
    ),
    S.REQUIRES_ACTION: frozenset({S.PROCESSING, S.AUTHORIZED, S.CAPTURED, S.FAILED, S.CANCELED}),
    S.PROCESSING: frozenset({S.AUTHORIZED, S.CAPTURED, S.FAILED, S.CANCELED}),
    S.AUTHORIZED: frozenset({S.CAPTURED, S.CANCELED}),
    S.CAPTURED: frozenset(),
    S.CANCELED: frozenset({S.CAPTURED}),  # only a late bank transfer, see module doc
    S.FAILED: frozenset(),
}


class PaymentRuleBroken(Exception):
    code = "payment_rule_broken"


class IllegalTransition(PaymentRuleBroken):
    code = "illegal_transition"


class NotCapturable(PaymentRuleBroken):
    code = "not_capturable"


class NotVoidable(PaymentRuleBroken):
    code = "not_voidable"


class NotRefundable(PaymentRuleBroken):
    code = "not_refundable"


class RefundExceedsCaptured(PaymentRuleBroken):
    code = "refund_exceeds_captured"


class InvalidAmount(PaymentRuleBroken):
    code = "invalid_amount"


def transition(current: PaymentStatus, to: PaymentStatus) -> PaymentStatus:
    if to is current:
        return to
    if to not in ALLOWED[current]:
        raise IllegalTransition(f"a {current} payment cannot become {to}")
    return to


def next_status_on_capture(status: PaymentStatus) -> PaymentStatus:
    """Capturing an authorized payment; capturing a captured one again changes nothing."""
    if status in (S.AUTHORIZED, S.CAPTURED):
        return S.CAPTURED
    raise NotCapturable(f"a {status} payment cannot be captured")


def needs_void(status: PaymentStatus) -> bool:
    """Whether voiding has anything to do; a captured payment cannot be voided (refund it)."""
    if status is S.CAPTURED:
        raise NotVoidable("a captured payment cannot be voided (refund it instead)")
    return status in (S.REQUIRES_PAYMENT_METHOD, S.REQUIRES_ACTION, S.PROCESSING, S.AUTHORIZED)


def check_refund(
    status: PaymentStatus, captured: Decimal, refunded: Decimal, amount: Decimal
) -> None:
    """Raise unless ``amount`` may be refunded now."""
    if not amount.is_finite() or amount <= 0:
        raise InvalidAmount("a refund is a positive amount")
    if status is not S.CAPTURED:
        raise NotRefundable(f"a {status} payment has nothing captured to refund")
    if refunded + amount > captured:
        raise RefundExceedsCaptured(
            f"{amount} would exceed what is left to refund ({captured - refunded} of {captured})"
        )


# -- the provider port -------------------------------------------------------------------------


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    REQUIRES_ACTION = "requires_action"  # 3-D Secure, a bank transfer to wait for
    DECLINED = "declined"


@dataclass(frozen=True)
class ProviderResult:
    outcome: Outcome
    provider_ref: str
    decline_code: str | None = None
    next_action: str | None = None  # what the guest must do (a URL, transfer instructions)

    @property
    def approved(self) -> bool:
        return self.outcome is Outcome.SUCCEEDED


class ProviderTimeout(TimeoutError):
    """The provider did not answer in time: it may or may not have acted. Retrying with the
    same idempotency key tells which, and never acts twice."""


class PaymentProvider(Protocol):
    """A payment provider. Every call carries an idempotency key: a repeated call returns the
    first result and never moves money twice."""

    name: str

    async def authorize(
        self, *, payment_method: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> ProviderResult: ...

    async def capture(
        self, *, provider_ref: str, amount: Decimal, idempotency_key: str
    ) -> ProviderResult: ...

    async def void(self, *, provider_ref: str, idempotency_key: str) -> ProviderResult: ...

    async def refund(
        self, *, provider_ref: str, amount: Decimal, idempotency_key: str
    ) -> ProviderResult: ...


class IdempotencyKeyReused(PaymentRuleBroken):
    code = "idempotency_key_reused"


class NotVerifiable(PaymentRuleBroken):
    code = "not_verifiable"
