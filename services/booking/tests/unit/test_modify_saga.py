"""The modify saga without a broker: reserve the new capacity first (replacing the old claim),
re-price, settle the difference (a new payment when it costs more, a partial refund when less),
then release the old capacity. Before the pivot (capture) a failure gives back only what the
modification took; after it, the saga parks and never touches the booking's old payment twice."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from booking.domain.saga_data import SagaData
from booking.domain.saga_engine import (
    SagaState,
    SagaStatus,
    on_reply,
    on_timeout,
    retry_parked,
    start,
)
from booking.domain.sagas import MODIFY_BOOKING
from contracts.base import Money, Reply
from contracts.common import SagaCommand
from contracts.inventory import (
    CapacityReleased,
    CapacityReservationRejected,
    CapacityReserved,
    ConfirmReservation,
    ReleaseCapacity,
    ReservationConfirmed,
    ReserveCapacity,
)
from contracts.payment import (
    AuthorizePayment,
    CapturePayment,
    PaymentAuthorized,
    PaymentCaptured,
    PaymentDeclined,
    PaymentRefunded,
    PaymentRefundFailed,
    RefundPayment,
    VoidPayment,
)
from contracts.pricing import BookingPriced, PriceBooking

EUR = "EUR"
KEY = "b-1#2"


def money(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency=EUR)


def modification(paid: str = "300.00", refunded: str = "0") -> SagaData:
    """Booking b-1 paid 300 on p-old for claim res-old; it now wants 4 nights instead of 2."""
    return SagaData(
        booking_id="b-1",
        resource_id="villa",
        check_in=date(2027, 1, 10),
        check_out=date(2027, 1, 14),
        party={"adults": 2, "children": 0, "infants": 0},
        payment_method="pm_card_visa",
        currency=EUR,
        claim_key=KEY,
        old_reservation_id="res-old",
        old_payment_id="p-old",
        paid_amount=Decimal(paid),
        refunded_amount=Decimal(refunded),
        net_paid_before=Decimal(paid) - Decimal(refunded),
        pay_by=datetime(2027, 1, 1, tzinfo=UTC),
    )


def run(state: SagaState, *replies: Reply) -> tuple[SagaState, list[SagaCommand]]:
    """Feed replies in order; every one must be expected. Returns the commands sent."""
    sent: list[SagaCommand] = []
    for reply in replies:
        decision = on_reply(state, reply)
        assert not decision.ignored, decision.note
        if decision.command is not None:
            sent.append(decision.command[1])
        state = decision.state
    return state, sent


def reserved() -> CapacityReserved:
    return CapacityReserved(booking_id="b-1", step="reserve_capacity#2", reservation_id="res-new")


def priced(total: str) -> BookingPriced:
    return BookingPriced(
        booking_id="b-1", step="price_booking#2", quote_id="q-new", nights=4, total=money(total)
    )


def test_a_dearer_modification_takes_a_new_payment_then_refunds_the_old_one_and_releases() -> None:
    first = start(MODIFY_BOOKING, modification(), seq=2)
    reserve = first.command[1]  # type: ignore[index]
    assert isinstance(reserve, ReserveCapacity)
    assert reserve.claim_key == KEY and reserve.replaces == "res-old"
    state, sent = run(
        first.state,
        reserved(),
        priced("600.00"),
        PaymentAuthorized(
            booking_id="b-1", step="authorize_payment#2", payment_id="p-new", amount=money("600")
        ),
        ReservationConfirmed(
            booking_id="b-1", step="confirm_reservation#2", reservation_id="res-new"
        ),
        PaymentCaptured(
            booking_id="b-1", step="capture_payment#2", payment_id="p-new", amount=money("600")
        ),
        PaymentRefunded(
            booking_id="b-1",
            step="refund_old_payment#2",
            payment_id="p-old",
            refund_id="rf-1",
            amount=money("300.00"),
            refunded_total=money("300.00"),
        ),
        CapacityReleased(booking_id="b-1", step="release_old_capacity#2", reservation_id="res-old"),
    )
    price, authorize, confirm, capture, refund, release = sent
    assert isinstance(price, PriceBooking) and price.quote_key == KEY
    assert isinstance(authorize, AuthorizePayment)
    assert authorize.payment_key == KEY and authorize.amount == money("600.00")
    assert isinstance(confirm, ConfirmReservation) and confirm.reservation_id == "res-new"
    assert isinstance(capture, CapturePayment) and capture.payment_id == "p-new"
    assert isinstance(refund, RefundPayment)
    assert (refund.payment_id, refund.amount, refund.refund_key) == (
        "p-old",
        money("300.00"),
        f"modification:{KEY}",
    )
    assert isinstance(release, ReleaseCapacity) and release.reservation_id == "res-old"
    assert state.status is SagaStatus.SUCCEEDED
    d = state.data
    assert (d.reservation_id, d.payment_id, d.quote_id) == ("res-new", "p-new", "q-new")
    assert (d.paid_amount, d.refunded_amount, d.net_paid) == (
        Decimal("900.00"),
        Decimal("300.00"),
        Decimal("600.00"),
    )


@pytest.mark.parametrize(
    ("paid", "refunded", "new_total", "refund"),
    [
        ("300.00", "0", "200.00", "100.00"),  # cheaper: the difference back on the old payment
        ("300.00", "50.00", "200.00", "50.00"),  # net paid counts what was refunded before
    ],
)
def test_a_cheaper_modification_refunds_the_difference_without_a_new_payment(
    paid: str, refunded: str, new_total: str, refund: str
) -> None:
    state, sent = run(
        start(MODIFY_BOOKING, modification(paid, refunded), seq=2).state,
        reserved(),
        priced(new_total),
        ReservationConfirmed(
            booking_id="b-1", step="confirm_reservation#2", reservation_id="res-new"
        ),
        PaymentRefunded(
            booking_id="b-1",
            step="refund_old_payment#2",
            payment_id="p-old",
            refund_id="rf-1",
            amount=money(refund),
            refunded_total=money(refund),
        ),
        CapacityReleased(booking_id="b-1", step="release_old_capacity#2", reservation_id="res-old"),
    )
    assert [type(c) for c in sent] == [
        PriceBooking,
        ConfirmReservation,
        RefundPayment,
        ReleaseCapacity,
    ]
    assert sent[2].amount == money(refund)  # type: ignore[attr-defined]
    assert state.status is SagaStatus.SUCCEEDED
    assert state.data.net_paid == Decimal(new_total)
    assert state.data.payment_id is None  # the old payment stays the booking's


def test_a_modification_at_the_same_price_moves_no_money() -> None:
    state, sent = run(
        start(MODIFY_BOOKING, modification(), seq=2).state,
        reserved(),
        priced("300.00"),
        ReservationConfirmed(
            booking_id="b-1", step="confirm_reservation#2", reservation_id="res-new"
        ),
        CapacityReleased(booking_id="b-1", step="release_old_capacity#2", reservation_id="res-old"),
    )
    assert [type(c) for c in sent] == [PriceBooking, ConfirmReservation, ReleaseCapacity]
    assert state.status is SagaStatus.SUCCEEDED


def test_no_capacity_for_the_new_dates_fails_and_leaves_the_old_claim_alone() -> None:
    decision = on_reply(
        start(MODIFY_BOOKING, modification(), seq=2).state,
        CapacityReservationRejected(
            booking_id="b-1", step="reserve_capacity#2", reason="insufficient_capacity"
        ),
    )
    assert decision.command is None
    assert decision.state.status is SagaStatus.FAILED
    assert decision.state.failure_reason == "capacity_unavailable"


def test_a_declined_new_payment_gives_back_only_what_the_modification_took() -> None:
    state, sent = run(
        start(MODIFY_BOOKING, modification(), seq=2).state,
        reserved(),
        priced("600.00"),
        PaymentDeclined(
            booking_id="b-1",
            step="authorize_payment#2",
            payment_id="p-new",
            reason="card_declined",
        ),
        CapacityReleased(booking_id="b-1", step="release_capacity#2", reservation_id="res-new"),
    )
    release = sent[-1]
    assert isinstance(release, ReleaseCapacity) and release.reservation_id == "res-new"
    assert not any(isinstance(c, RefundPayment | VoidPayment) for c in sent)
    assert state.status is SagaStatus.FAILED and state.failure_reason == "payment_declined"


def test_a_new_payment_that_never_answers_is_voided_by_its_own_key() -> None:
    state, _ = run(start(MODIFY_BOOKING, modification(), seq=2).state, reserved(), priced("600"))
    for _ in range(2):
        state = on_timeout(state, max_attempts=3).state
    void = on_timeout(state, max_attempts=3).command[1]  # type: ignore[index]
    assert isinstance(void, VoidPayment)
    assert void.payment_id == "" and void.payment_key == KEY  # never the booking's old payment


def test_a_reservation_that_never_answers_is_released_by_its_own_key_never_the_old_claim() -> None:
    state = start(MODIFY_BOOKING, modification(), seq=2).state
    for _ in range(2):
        state = on_timeout(state, max_attempts=3).state
    decision = on_timeout(state, max_attempts=3)
    release = decision.command[1]  # type: ignore[index]
    assert isinstance(release, ReleaseCapacity)
    assert release.reservation_id is None and release.claim_key == KEY


def test_a_refund_of_the_old_payment_that_fails_after_the_capture_parks_and_is_retried() -> None:
    state, _ = run(
        start(MODIFY_BOOKING, modification(), seq=2).state,
        reserved(),
        priced("600.00"),
        PaymentAuthorized(
            booking_id="b-1", step="authorize_payment#2", payment_id="p-new", amount=money("600")
        ),
        ReservationConfirmed(
            booking_id="b-1", step="confirm_reservation#2", reservation_id="res-new"
        ),
        PaymentCaptured(
            booking_id="b-1", step="capture_payment#2", payment_id="p-new", amount=money("600")
        ),
    )
    parked = on_reply(
        state,
        PaymentRefundFailed(
            booking_id="b-1",
            step="refund_old_payment#2",
            payment_id="p-old",
            reason="provider_error",
        ),
    )
    assert parked.command is None  # nothing undone: the new payment and claim stay
    assert parked.state.status is SagaStatus.PARKED
    assert parked.state.current == "refund_old_payment"
    retried = retry_parked(parked.state)
    command = retried.command[1]  # type: ignore[index]
    assert isinstance(command, RefundPayment) and command.payment_id == "p-old"
    assert command.refund_key == f"modification:{KEY}"  # the same key: never refunded twice
