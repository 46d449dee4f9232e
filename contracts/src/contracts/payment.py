"""Payment commands and replies. Every command is idempotent by (booking_id, step)."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import Field

from contracts.base import Event, Money, Reply
from contracts.common import SagaCommand


class AuthorizePayment(SagaCommand):
    """Authorize ``amount`` with a payment method: a test card (``pm_card_visa``, ...) or
    ``bank_transfer``. A method that needs the guest to act (3-D Secure, a transfer) answers
    only when that completes: ``PaymentAuthorized``, or ``PaymentDeclined`` when it fails or
    ``pay_by`` passes. ``tenant_id`` and ``pay_by`` were added within v1 (optional), and
    ``payment_key``: what makes the command idempotent (default: the booking id); a booking
    that takes a second payment (a modification that costs more) names it differently."""

    type: ClassVar[str] = "payment.AuthorizePayment"
    amount: Money
    payment_method: str = Field(min_length=1, max_length=64)
    pay_by: datetime | None = None
    payment_key: str | None = Field(default=None, min_length=1, max_length=200)

    @property
    def key(self) -> str:
        return self.payment_key or self.booking_id


class PaymentAuthorized(Reply):
    """The money is secured. For a bank transfer, staff saw it arrive: ``verified_by`` and
    ``verified_at`` say who and when (added within v1, optional)."""

    type: ClassVar[str] = "payment.PaymentAuthorized"
    payment_id: str
    amount: Money
    verified_by: str | None = None
    verified_at: datetime | None = None


class PaymentActionRequired(Reply):
    """The payment waits for the guest (3-D Secure, a bank transfer) until ``pay_by``; the final
    answer (``PaymentAuthorized`` or ``PaymentDeclined``) follows for the same step."""

    type: ClassVar[str] = "payment.PaymentActionRequired"
    payment_id: str
    pay_by: datetime
    next_action: str | None = None


class VerifyPayment(SagaCommand):
    """Staff confirm that a bank transfer arrived. The authorize step it completes hears
    ``PaymentAuthorized``; a payment that is not a waiting transfer answers
    ``PaymentVerificationRefused`` (to this command's step)."""

    type: ClassVar[str] = "payment.VerifyPayment"
    payment_id: str
    verified_by: str = Field(min_length=1, max_length=200)


class PaymentVerificationRefused(Reply):
    type: ClassVar[str] = "payment.PaymentVerificationRefused"
    payment_id: str
    reason: str


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
    """Compensation of ``AuthorizePayment``: gives the guest's money back, whatever happened to
    it meanwhile. An authorization is released; a payment already captured (a transfer that
    arrived) is refunded in full and ``PaymentVoided.refunded`` says how much.

    ``payment_id`` is empty when the authorization's answer never came; the payment is then
    found by ``payment_key`` (added within v1, optional; default: the booking id)."""

    type: ClassVar[str] = "payment.VoidPayment"
    payment_id: str
    payment_key: str | None = Field(default=None, min_length=1, max_length=200)

    @property
    def key(self) -> str:
        return self.payment_key or self.booking_id


class PaymentVoided(Reply):
    type: ClassVar[str] = "payment.PaymentVoided"
    payment_id: str
    refunded: Money | None = None


class RefundPayment(SagaCommand):
    """Refund part or all of a captured payment. ``refund_key`` makes it idempotent: the same
    key refunds once, however often the command arrives."""

    type: ClassVar[str] = "payment.RefundPayment"
    payment_id: str
    amount: Money
    refund_key: str = Field(min_length=1, max_length=200)
    reason: str = ""


class PaymentRefunded(Reply):
    type: ClassVar[str] = "payment.PaymentRefunded"
    payment_id: str
    refund_id: str
    amount: Money
    refunded_total: Money


class PaymentRefundFailed(Reply):
    type: ClassVar[str] = "payment.PaymentRefundFailed"
    payment_id: str
    reason: str
    detail: str = ""


class PaymentEvent(Event):
    """Public payment events on ``payment.events``, keyed by booking id. ``tenant_id`` (added
    within v1, optional): the payment's tenant."""

    booking_id: str
    payment_id: str
    amount: Money
    tenant_id: str | None = None


class LatePaymentReceived(PaymentEvent):
    """Money arrived after the payment was canceled (its deadline passed): the booking saga
    re-acquires capacity or refunds it."""

    type: ClassVar[str] = "payment.late_payment_received"
    received_at: datetime


class PaymentRefundedEvent(PaymentEvent):
    """A refund was made (by the saga or by staff); ``amount`` is this refund."""

    type: ClassVar[str] = "payment.refunded"
    refund_id: str
    refunded_total: Money
