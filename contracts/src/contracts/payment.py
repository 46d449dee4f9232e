"""Payment commands and replies. Every command is idempotent by (booking_id, step)."""

from __future__ import annotations

from typing import ClassVar

from contracts.base import Money, Reply
from contracts.common import SagaCommand


class AuthorizePayment(SagaCommand):
    type: ClassVar[str] = "payment.AuthorizePayment"
    amount: Money
    payment_method: str


class PaymentAuthorized(Reply):
    type: ClassVar[str] = "payment.PaymentAuthorized"
    payment_id: str
    amount: Money


class PaymentDeclined(Reply):
    type: ClassVar[str] = "payment.PaymentDeclined"
    payment_id: str
    reason: str


class CapturePayment(SagaCommand):
    type: ClassVar[str] = "payment.CapturePayment"
    payment_id: str


class PaymentCaptured(Reply):
    type: ClassVar[str] = "payment.PaymentCaptured"
    payment_id: str
    amount: Money


class PaymentCaptureFailed(Reply):
    type: ClassVar[str] = "payment.PaymentCaptureFailed"
    payment_id: str
    reason: str


class VoidPayment(SagaCommand):
    """Compensation of ``AuthorizePayment``: releases an authorization that was never captured."""

    type: ClassVar[str] = "payment.VoidPayment"
    payment_id: str


class PaymentVoided(Reply):
    type: ClassVar[str] = "payment.PaymentVoided"
    payment_id: str
