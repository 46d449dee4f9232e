"""A simulated card provider whose outcome is chosen by the payment method.

Test payment methods:

========================  ==========================================
``pm_card_visa``          approved
``pm_card_mastercard``    approved
``pm_card_declined``      declined: ``card_declined``
``pm_card_insufficient``  declined: ``insufficient_funds``
anything else             declined: ``unknown_payment_method``
========================  ==========================================

Deterministic: the provider reference is derived from the idempotency key, so a repeated call
(a retried command, a lost answer) yields the same reference and never a second charge.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal

from payment.domain.payments import ProviderResult

_APPROVED = {"pm_card_visa", "pm_card_mastercard"}
_DECLINED = {"pm_card_declined": "card_declined", "pm_card_insufficient": "insufficient_funds"}


def _ref(prefix: str, key: str) -> str:
    return f"{prefix}_{hashlib.sha256(key.encode()).hexdigest()[:24]}"


class SimulatedCardProvider:
    name = "simulated_card"

    def authorize(
        self, *, payment_method: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> ProviderResult:
        ref = _ref("ch", idempotency_key)
        if payment_method in _APPROVED:
            return ProviderResult(True, ref)
        return ProviderResult(False, ref, _DECLINED.get(payment_method, "unknown_payment_method"))

    def capture(self, *, provider_ref: str, idempotency_key: str) -> ProviderResult:
        return ProviderResult(True, provider_ref)

    def void(self, *, provider_ref: str, idempotency_key: str) -> ProviderResult:
        return ProviderResult(True, provider_ref)
