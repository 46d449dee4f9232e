"""The lifecycle sagas without a broker: awaiting payment, cancellation (of a running create
saga and of a confirmed booking), late payments, step labels per saga and parking."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from booking.domain.saga_data import SagaData
from booking.domain.saga_engine import (
    Decision,
    SagaState,
    SagaStatus,
    abort,
    on_reply,
    on_timeout,
    retry_parked,
    start,
    state_to_json,
)
from booking.domain.sagas import (
    CANCEL_BOOKING,
    CREATE_BOOKING,
    LATE_PAYMENT,
    PAYMENT_DEADLINE_PASSED,
    load_state,
)
from contracts.base import Money
from contracts.inventory import (
    CapacityReleased,
    CapacityReservationRejected,
    CapacityReserved,
    ReleaseCapacity,
    ReservationConfirmed,
    ReserveCapacity,
)
from contracts.payment import (
    PaymentActionRequired,
    PaymentAuthorized,
    PaymentDeclined,
    PaymentRefunded,
    PaymentRefundFailed,
    PaymentVoided,
    RefundPayment,
    VoidPayment,
)
from contracts.pricing import BookingPriced, QuoteRefund, RefundQuoted

EUR = "EUR"
PAY_BY = datetime(2027, 1, 1, 12, 30, tzinfo=UTC)


def money(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency=EUR)


def data(**changes: object) -> SagaData:
    base = SagaData(
        booking_id="b-1",
        resource_id="r-1",
        check_in=date(2027, 1, 10),
        check_out=date(2027, 1, 13),
        party={"adults": 2, "children": 0, "infants": 0},
        payment_method="bank_transfer",
        pay_by=PAY_BY,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def feed(state: SagaState, *replies):  # type: ignore[no-untyped-def]
    decisions: list[Decision] = []
    for reply in replies:
        decision = on_reply(state, reply)
        decisions.append(decision)
        state = decision.state
    return state, decisions


def up_to_payment(seq: int = 1) -> SagaState:
    suffix = "" if seq == 1 else f"#{seq}"
    state = start(CREATE_BOOKING, data(), seq).state
    state, _ = feed(
        state,
        CapacityReserved(
            booking_id="b-1", step=f"reserve_capacity{suffix}", reservation_id="res-1"
        ),
        BookingPriced(
            booking_id="b-1",
            step=f"price_booking{suffix}",
            quote_id="q-1",
            nights=3,
            total=money("450.00"),
        ),
    )
    return state


def action_required() -> PaymentActionRequired:
    return PaymentActionRequired(
        booking_id="b-1",
        step="authorize_payment",
        payment_id="p-1",
        pay_by=PAY_BY,
        next_action="transfer to IBAN ...",
    )


def test_a_payment_that_waits_for_the_guest_parks_the_step_until_the_deadline() -> None:
    decision = on_reply(up_to_payment(), action_required())
    assert decision.began_waiting and decision.command is None
    assert decision.state.waiting and decision.state.data.next_action == "transfer to IBAN ..."
    # A repeated "still waiting" changes nothing; the final answer continues the saga.
    assert on_reply(decision.state, action_required()).ignored
    after = on_reply(
        decision.state,
        PaymentAuthorized(
            booking_id="b-1",
            step="authorize_payment",
            payment_id="p-1",
            amount=money("450.00"),
            verified_by="staff-1",
            verified_at=PAY_BY,
        ),
    )
    assert after.command is not None and after.command[1].step == "confirm_reservation"
    assert after.state.data.verified_by == "staff-1" and not after.state.waiting


def test_a_waiting_payment_is_not_resent_and_its_deadline_expires_the_booking() -> None:
    waiting = on_reply(up_to_payment(), action_required()).state
    decision = on_timeout(waiting, max_attempts=3)
    assert decision.state.failure_reason == PAYMENT_DEADLINE_PASSED
    assert isinstance(decision.command[1], VoidPayment)  # type: ignore[index]
    assert decision.state.pending_compensations == ("release_capacity",)


def test_the_payment_service_declining_at_the_deadline_is_an_expiry_too() -> None:
    waiting = on_reply(up_to_payment(), action_required()).state
    decision = on_reply(
        waiting,
        PaymentDeclined(
            booking_id="b-1",
            step="authorize_payment",
            payment_id="p-1",
            reason=PAYMENT_DEADLINE_PASSED,
        ),
    )
    assert decision.state.failure_reason == PAYMENT_DEADLINE_PASSED


def test_cancelling_a_waiting_booking_gives_everything_back_at_once() -> None:
    waiting = on_reply(up_to_payment(), action_required()).state
    decision = abort(waiting, "cancelled")
    assert isinstance(decision.command[1], VoidPayment)  # type: ignore[index]
    state, _decisions = feed(
        decision.state,
        PaymentVoided(
            booking_id="b-1", step="void_payment", payment_id="p-1", refunded=money("450.00")
        ),
        CapacityReleased(booking_id="b-1", step="release_capacity"),
    )
    assert state.status is SagaStatus.FAILED and state.failure_reason == "cancelled"
    assert state.data.refunded_amount == Decimal("450.00")  # a transfer had arrived


def test_cancelling_under_a_step_in_flight_compensates_when_its_reply_arrives() -> None:
    state = start(CREATE_BOOKING, data()).state
    marked = abort(state, "cancelled")
    assert marked.command is None and not marked.ignored
    decision = on_reply(
        marked.state,
        CapacityReserved(booking_id="b-1", step="reserve_capacity", reservation_id="res-1"),
    )
    assert isinstance(decision.command[1], ReleaseCapacity)  # type: ignore[index]
    assert decision.state.failure_reason == "cancelled"


def test_a_later_saga_labels_its_steps_and_ignores_replies_meant_for_an_earlier_one() -> None:
    decision = start(LATE_PAYMENT, data(claim_key="b-1#3"), seq=3)
    command = decision.command[1]  # type: ignore[index]
    assert isinstance(command, ReserveCapacity)
    assert command.step == "reserve_capacity#3" and command.claim_key == "b-1#3"
    stale = CapacityReserved(booking_id="b-1", step="reserve_capacity", reservation_id="old")
    assert on_reply(decision.state, stale).ignored


def test_a_late_payment_without_capacity_refunds_the_guest_in_full() -> None:
    state = start(
        LATE_PAYMENT,
        data(
            payment_id="p-1",
            paid_amount=Decimal("450.00"),
            refund_amount=Decimal("450.00"),
            currency=EUR,
            claim_key="b-1#2",
        ),
        seq=2,
    ).state
    decision = on_reply(
        state,
        CapacityReservationRejected(
            booking_id="b-1", step="reserve_capacity#2", reason="insufficient_capacity"
        ),
    )
    command = decision.command[1]  # type: ignore[index]
    assert isinstance(command, RefundPayment)
    assert command.amount == money("450.00") and command.refund_key == "late_payment"
    done = on_reply(
        decision.state,
        PaymentRefunded(
            booking_id="b-1",
            step="refund_payment#2",
            payment_id="p-1",
            refund_id="rf-1",
            amount=money("450.00"),
            refunded_total=money("450.00"),
        ),
    )
    assert done.state.status is SagaStatus.FAILED
    assert done.state.data.refunded_amount == Decimal("450.00")


def test_a_late_payment_with_capacity_succeeds() -> None:
    state = start(LATE_PAYMENT, data(claim_key="b-1#2"), seq=2).state
    state, _decisions = feed(
        state,
        CapacityReserved(booking_id="b-1", step="reserve_capacity#2", reservation_id="res-2"),
        ReservationConfirmed(
            booking_id="b-1", step="confirm_reservation#2", reservation_id="res-2"
        ),
    )
    assert state.status is SagaStatus.SUCCEEDED and state.data.reservation_id == "res-2"


def confirmed_booking() -> SagaData:
    return data(
        payment_method="pm_card_visa",
        quote_id="q-1",
        payment_id="p-1",
        currency=EUR,
        total_amount=Decimal("450.00"),
        paid_amount=Decimal("450.00"),
        reservation_id="res-1",
        starts_at=datetime(2027, 1, 10, 15, tzinfo=UTC),
        cancelled_at=datetime(2027, 1, 9, 15, tzinfo=UTC),
    )


def test_cancel_quotes_the_refund_from_the_snapshot_releases_then_refunds() -> None:
    decision = start(CANCEL_BOOKING, confirmed_booking(), seq=2)
    command = decision.command[1]  # type: ignore[index]
    assert isinstance(command, QuoteRefund) and command.paid == money("450.00")
    assert command.cancelled_at + timedelta(hours=24) == command.starts_at
    state, decisions = feed(
        decision.state,
        RefundQuoted(
            booking_id="b-1",
            step="quote_refund#2",
            quote_id="q-1",
            refund=money("225.00"),
            refund_percent=Decimal(50),
            hours_before_start=Decimal(24),
        ),
        CapacityReleased(booking_id="b-1", step="release_capacity#2"),
        PaymentRefunded(
            booking_id="b-1",
            step="refund_payment#2",
            payment_id="p-1",
            refund_id="rf",
            amount=money("225.00"),
            refunded_total=money("225.00"),
        ),
    )
    kinds = [type(d.command[1]) for d in decisions if d.command]
    assert kinds == [ReleaseCapacity, RefundPayment]
    assert state.status is SagaStatus.SUCCEEDED
    assert state.data.refunded_amount == Decimal("225.00")


def test_cancel_skips_the_refund_when_the_policy_gives_nothing_back() -> None:
    decision = start(CANCEL_BOOKING, confirmed_booking(), seq=2)
    state, decisions = feed(
        decision.state,
        RefundQuoted(
            booking_id="b-1",
            step="quote_refund#2",
            quote_id="q-1",
            refund=money("0.00"),
            refund_percent=Decimal(0),
            hours_before_start=Decimal(1),
        ),
        CapacityReleased(booking_id="b-1", step="release_capacity#2"),
    )
    assert decisions[-1].finished and state.status is SagaStatus.SUCCEEDED
    assert state.data.refunded_amount is None


def test_a_refund_that_fails_parks_the_cancel_and_staff_resume_it() -> None:
    state = start(CANCEL_BOOKING, confirmed_booking(), seq=2).state
    state, _decisions = feed(
        state,
        RefundQuoted(
            booking_id="b-1",
            step="quote_refund#2",
            quote_id="q-1",
            refund=money("450.00"),
            refund_percent=Decimal(100),
            hours_before_start=Decimal(48),
        ),
        CapacityReleased(booking_id="b-1", step="release_capacity#2"),
        PaymentRefundFailed(
            booking_id="b-1", step="refund_payment#2", payment_id="p-1", reason="provider_down"
        ),
    )
    assert state.status is SagaStatus.PARKED and state.current == "refund_payment"
    resumed = retry_parked(state)
    assert resumed.state.status is SagaStatus.RUNNING
    assert isinstance(resumed.command[1], RefundPayment)  # type: ignore[index]
    assert resumed.command[1].refund_key == "cancellation"  # type: ignore[index]


def test_every_saga_state_survives_json() -> None:
    waiting = on_reply(up_to_payment(), action_required()).state
    parked = replace(waiting, status=SagaStatus.PARKED, parked_from=SagaStatus.COMPENSATING)
    for state in (waiting, parked, start(CANCEL_BOOKING, confirmed_booking(), seq=2).state):
        assert load_state(state_to_json(state)) == state
