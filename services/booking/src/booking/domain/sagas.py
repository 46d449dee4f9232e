"""The booking's sagas, as tables of steps (the engine is ``booking.domain.saga_engine``).

create_booking                                      compensation
    reserve_capacity    (a hold, when given, is adopted) ──▶ release_capacity
    price_booking       (quote, price and policy snapshot)
    authorize_payment   (may wait for the guest: awaiting_payment) ──▶ void_payment
    confirm_reservation
    capture_payment
  → confirmed; a failure → rejected (expired when the payment deadline passed)

cancel_booking (the booking is already ``cancelled``; failures park, nothing is undone)
    quote_refund        (pricing, from the quote's policy snapshot; skipped when nothing was paid)
    release_capacity    (first, so the capacity is free even while a refund is stuck)
    refund_payment      (skipped when the policy refunds nothing)
  → refunded, when a refund was made

late_payment (a transfer verified after the booking expired)         compensation
    reserve_capacity    (a new claim)                          ──▶ release_capacity
    confirm_reservation
  → the booking is reinstated (confirmed); a failure compensates, then
    refund_payment      (recovery: the guest gets the whole payment back)

late_payment_refund (a transfer verified after the booking was cancelled)
    refund_payment

no_show (the booking is already ``no_show``)
    release_capacity    (the nights or seats left are given back)

modify_booking (dates, slot or party of a confirmed booking; it stays confirmed)   compensation
    reserve_capacity    (a new claim; what it shares with the old one counts once) ──▶ release_capacity
    price_booking       (a new quote)
    authorize_payment   (only when the new price is more than was paid:     ──▶ void_payment
                         a new payment for the new price)
    confirm_reservation
    capture_payment     (the pivot: later failures park, nothing is undone)
    refund_old_payment  (what the old payment no longer covers: all of it after a new payment,
                         the difference when the new price is lower)
    release_old_capacity
  → the booking has the new dates, claim, quote and payment (booking.updated); a failure before
    the pivot gives the new claim and payment back and the booking stays as it was
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any

from booking.domain.saga_data import SagaData
from booking.domain.saga_engine import (
    Compensation,
    OnFailure,
    Participant,
    SagaDefinition,
    SagaState,
    Step,
    Waiting,
    state_from_json,
)
from contracts.inventory import (
    CapacityReleased,
    CapacityReservationRejected,
    CapacityReserved,
    ConfirmReservation,
    ReleaseCapacity,
    ReservationConfirmationFailed,
    ReservationConfirmed,
    ReserveCapacity,
)
from contracts.payment import (
    AuthorizePayment,
    CapturePayment,
    PaymentActionRequired,
    PaymentAuthorized,
    PaymentCaptured,
    PaymentCaptureFailed,
    PaymentDeclined,
    PaymentRefunded,
    PaymentRefundFailed,
    PaymentVoided,
    RefundPayment,
    VoidPayment,
)
from contracts.pricing import (
    BookingPriced,
    BookingPricingFailed,
    PriceBooking,
    QuoteRefund,
    RefundQuoted,
    RefundQuoteFailed,
)

PAYMENT_DEADLINE_PASSED = "payment_deadline_passed"
CANCELLED = "cancelled"


def _reserve(d: SagaData, step: str) -> ReserveCapacity:
    return ReserveCapacity(
        booking_id=d.booking_id,
        step=step,
        resource_id=d.resource_id,
        period=d.period,
        quantity=1,
        party_size=d.party_model.size,
        slot_id=d.slot_id,
        claim_key=d.claim_key,
        hold_id=d.hold_id,
        holder=d.holder,
        hold_seconds=d.hold_seconds,
        tenant_id=d.tenant_id,
        replaces=d.old_reservation_id,
    )


def _release(d: SagaData, step: str) -> ReleaseCapacity:
    return ReleaseCapacity(
        booking_id=d.booking_id, step=step, reservation_id=d.reservation_id, claim_key=d.key
    )


def _reservation_refused(r: CapacityReservationRejected) -> str:
    """Full capacity is ``capacity_unavailable``; a time the resource's rules refuse (minimum
    stay, changeover day, notice, inactive resource, ...) is ``not_bookable``."""
    return "capacity_unavailable" if r.reason == "insufficient_capacity" else "not_bookable"


def _priced(d: SagaData, r: BookingPriced) -> SagaData:
    price: dict[str, Any] = {
        "lines": [line.model_dump(mode="json") for line in r.lines],
        "subtotal": r.subtotal.model_dump(mode="json") if r.subtotal else None,
        "taxes": r.taxes.model_dump(mode="json") if r.taxes else None,
        "valid_until": r.valid_until.isoformat() if r.valid_until else None,
    }
    return replace(
        d,
        quote_id=r.quote_id,
        total_amount=r.total.amount,
        currency=r.total.currency,
        price=price,
        policy=[tier.model_dump(mode="json") for tier in r.cancellation_policy],
    )


def _declined(r: PaymentDeclined) -> str:
    return PAYMENT_DEADLINE_PASSED if r.reason == PAYMENT_DEADLINE_PASSED else "payment_declined"


def _voided(d: SagaData, r: PaymentVoided) -> SagaData:
    """A payment that had been captured meanwhile (a transfer verified as the saga gave up) was
    refunded in full: the money came and went back."""
    if r.refunded is None:
        return d
    return replace(
        d,
        paid_amount=(d.paid_amount or Decimal(0)) + r.refunded.amount,
        refunded_amount=(d.refunded_amount or Decimal(0)) + r.refunded.amount,
    )


RESERVE = Step(
    name="reserve_capacity",
    participant=Participant.INVENTORY,
    command=_reserve,
    success=CapacityReserved,
    failures=(CapacityReservationRejected,),
    failure_reason="capacity_unavailable",
    reason_of=_reservation_refused,
    absorb=lambda d, r: replace(
        d, reservation_id=r.reservation_id, unit_id=r.resource_id or d.resource_id
    ),
    compensation=Compensation(
        name="release_capacity",
        participant=Participant.INVENTORY,
        command=_release,
        done=(CapacityReleased,),
    ),
)

CONFIRM_RESERVATION = Step(
    name="confirm_reservation",
    participant=Participant.INVENTORY,
    command=lambda d, step: ConfirmReservation(
        booking_id=d.booking_id, step=step, reservation_id=d.reservation_id or ""
    ),
    success=ReservationConfirmed,
    failures=(ReservationConfirmationFailed,),
    failure_reason="reservation_confirmation_failed",
)

RELEASE = Step(
    name="release_capacity",
    participant=Participant.INVENTORY,
    command=_release,
    success=CapacityReleased,
    failures=(),
    failure_reason="release_failed",
)


def _needs_new_payment(d: SagaData) -> bool:
    """A modification costs more than the guest has paid net: a new payment for the new price
    replaces the old one (refunded once the new one is captured). Always true for a new booking."""
    if d.net_paid_before is None:
        return True
    return d.total_amount is not None and d.total_amount > d.net_paid_before


def _old_payment_refund(d: SagaData) -> Decimal:
    """What a modification gives back on the old payment."""
    before = d.net_paid_before or Decimal(0)
    if _needs_new_payment(d):
        return before
    return before - (d.total_amount or Decimal(0))


PRICE = Step(
    name="price_booking",
    participant=Participant.PRICING,
    command=lambda d, step: PriceBooking(
        booking_id=d.booking_id,
        step=step,
        resource_id=d.resource_id,
        period=None if d.window else d.period,
        window=d.window,
        party=d.party_model,
        venue_id=d.venue_id,
        quote_key=d.claim_key,
    ),
    success=BookingPriced,
    failures=(BookingPricingFailed,),
    failure_reason="pricing_failed",
    absorb=_priced,
)

AUTHORIZE = Step(
    name="authorize_payment",
    participant=Participant.PAYMENT,
    command=lambda d, step: AuthorizePayment(
        booking_id=d.booking_id,
        step=step,
        amount=d.total,
        payment_method=d.payment_method,
        tenant_id=d.tenant_id,
        pay_by=d.pay_by,
        payment_key=d.claim_key,
    ),
    success=PaymentAuthorized,
    failures=(PaymentDeclined,),
    failure_reason="payment_declined",
    reason_of=_declined,
    absorb=lambda d, r: replace(
        d, payment_id=r.payment_id, verified_by=r.verified_by, verified_at=r.verified_at
    ),
    absorb_failure=lambda d, r: replace(d, payment_id=r.payment_id),
    waiting=Waiting(
        reply=PaymentActionRequired,
        absorb=lambda d, r: replace(
            d, payment_id=r.payment_id, pay_by=r.pay_by, next_action=r.next_action
        ),
        deadline_of=lambda d: d.pay_by,
        reason_on_timeout=PAYMENT_DEADLINE_PASSED,
    ),
    compensation=Compensation(
        name="void_payment",
        participant=Participant.PAYMENT,
        command=lambda d, step: VoidPayment(
            booking_id=d.booking_id,
            step=step,
            payment_id=d.payment_id or "",
            payment_key=d.claim_key,
        ),
        done=(PaymentVoided,),
        absorb=_voided,
    ),
    skip_if=lambda d: not _needs_new_payment(d),
)

CAPTURE = Step(
    name="capture_payment",
    participant=Participant.PAYMENT,
    command=lambda d, step: CapturePayment(
        booking_id=d.booking_id, step=step, payment_id=d.payment_id or ""
    ),
    success=PaymentCaptured,
    failures=(PaymentCaptureFailed,),
    failure_reason="payment_capture_failed",
    absorb=lambda d, r: replace(d, paid_amount=(d.paid_amount or Decimal(0)) + r.amount.amount),
    skip_if=lambda d: d.payment_id is None,
)

CREATE_BOOKING = SagaDefinition(
    name="create_booking",
    on_failure=OnFailure.COMPENSATE,
    steps=(RESERVE, PRICE, AUTHORIZE, CONFIRM_RESERVATION, CAPTURE),
)

Amount = Callable[[SagaData], Decimal | None]


def _refund_step(
    amount_of: Amount,
    reason: str,
    *,
    key: Callable[[SagaData], str],
    name: str = "refund_payment",
    payment_of: Callable[[SagaData], str | None] = lambda d: d.payment_id,
) -> Step:
    return Step(
        name=name,
        participant=Participant.PAYMENT,
        command=lambda d, step: RefundPayment(
            booking_id=d.booking_id,
            step=step,
            payment_id=payment_of(d) or "",
            amount=d.money(amount_of(d)),
            refund_key=key(d),
            reason=reason,
        ),
        success=PaymentRefunded,
        failures=(PaymentRefundFailed,),
        failure_reason="refund_failed",
        absorb=lambda d, r: replace(
            d, refunded_amount=(d.refunded_amount or Decimal(0)) + r.amount.amount
        ),
        skip_if=lambda d: payment_of(d) is None or not amount_of(d),
    )


def _quote_refund(d: SagaData, step: str) -> QuoteRefund:
    assert d.starts_at is not None and d.cancelled_at is not None
    return QuoteRefund(
        booking_id=d.booking_id,
        step=step,
        quote_id=d.quote_id or "",
        paid=d.money(d.net_paid),
        starts_at=d.starts_at,
        cancelled_at=d.cancelled_at,
    )


CANCEL_BOOKING = SagaDefinition(
    name="cancel_booking",
    on_failure=OnFailure.PARK,
    steps=(
        Step(
            name="quote_refund",
            participant=Participant.PRICING,
            command=_quote_refund,
            success=RefundQuoted,
            failures=(RefundQuoteFailed,),
            failure_reason="refund_quote_failed",
            absorb=lambda d, r: replace(d, refund_amount=r.refund.amount),
            skip_if=lambda d: not d.quote_id or d.net_paid <= 0 or d.starts_at is None,
        ),
        RELEASE,
        _refund_step(lambda d: d.refund_amount, "cancelled", key=lambda d: "cancellation"),
    ),
)

# The late payment's amount is the saga's ``refund_amount`` (what goes back if it cannot stay).
LATE_PAYMENT = SagaDefinition(
    name="late_payment",
    on_failure=OnFailure.COMPENSATE,
    steps=(RESERVE, CONFIRM_RESERVATION),
    recovery=(
        _refund_step(
            lambda d: d.refund_amount, "late_payment_no_capacity", key=lambda d: "late_payment"
        ),
    ),
)

# A transfer verified after its booking was cancelled, or one the booking does not use (a
# modification that gave up on it): give it back.
LATE_PAYMENT_REFUND = SagaDefinition(
    name="late_payment_refund",
    on_failure=OnFailure.PARK,
    steps=(
        _refund_step(
            lambda d: d.refund_amount, "late_payment_not_used", key=lambda d: "late_payment"
        ),
    ),
)

NO_SHOW = SagaDefinition(name="no_show", on_failure=OnFailure.PARK, steps=(RELEASE,))

MODIFY_BOOKING = SagaDefinition(
    name="modify_booking",
    on_failure=OnFailure.COMPENSATE,
    pivot=CAPTURE.name,
    steps=(
        RESERVE,
        PRICE,
        AUTHORIZE,
        CONFIRM_RESERVATION,
        CAPTURE,
        _refund_step(
            _old_payment_refund,
            "modified",
            key=lambda d: f"modification:{d.claim_key}",
            name="refund_old_payment",
            payment_of=lambda d: d.old_payment_id,
        ),
        Step(
            name="release_old_capacity",
            participant=Participant.INVENTORY,
            command=lambda d, step: ReleaseCapacity(
                booking_id=d.booking_id,
                step=step,
                reservation_id=d.old_reservation_id,
                claim_key=d.booking_id,
            ),
            success=CapacityReleased,
            failures=(),
            failure_reason="release_failed",
            skip_if=lambda d: d.old_reservation_id is None,
        ),
    ),
)

DEFINITIONS: dict[str, SagaDefinition] = {
    d.name: d
    for d in (
        CREATE_BOOKING,
        CANCEL_BOOKING,
        LATE_PAYMENT,
        LATE_PAYMENT_REFUND,
        NO_SHOW,
        MODIFY_BOOKING,
    )
}


def load_state(doc: dict[str, Any]) -> SagaState:
    return state_from_json(doc, DEFINITIONS)
