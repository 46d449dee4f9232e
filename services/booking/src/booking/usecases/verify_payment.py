"""An admin says the bank transfer arrived. The payment service records who and when; the
booking is then confirmed by its saga. After the payment deadline the booking has expired and
verifying is a late payment: it is reinstated if its capacity is still free, refunded
otherwise."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row

from booking.domain.booking import BookingStatus
from booking.domain.saga_engine import Participant, label
from booking.usecases.commands import OnBooking, target
from booking.usecases.unit_of_work import UnitOfWork
from contracts.payment import VerifyPayment
from service_kit.problems import Problem

BANK_TRANSFER = "bank_transfer"
VERIFIABLE = (BookingStatus.AWAITING_PAYMENT, BookingStatus.EXPIRED)


@dataclass(frozen=True, kw_only=True)
class VerifyTransfer(OnBooking):
    pass


async def verify_transfer(uow: UnitOfWork, command: VerifyTransfer) -> Row[Any]:
    booking = await target(uow, command)
    if booking.payment_method != BANK_TRANSFER:
        raise Problem(
            409, "not-a-transfer", "Nothing to verify", "The booking is not paid by transfer."
        )
    if booking.payment_id is None or booking.status not in VERIFIABLE:
        raise Problem(
            409,
            "not-awaiting-payment",
            "Nothing to verify",
            f"A {booking.status} booking has no transfer to verify.",
            current_status=booking.status,
        )
    saga = await uow.active_saga(booking.id)
    seq = saga.state.seq if saga else await uow.next_saga_seq(booking.id)
    verified_by = command.who.subject
    verify = VerifyPayment(
        booking_id=booking.id,
        step=label("verify_payment", seq),
        payment_id=booking.payment_id,
        verified_by=verified_by,
        tenant_id=booking.tenant_id,
    )
    await uow.send(Participant.PAYMENT, booking, verify, seq, f"by {verified_by}")
    await uow.audit(booking, "verify_payment", command.actor)
    return booking
