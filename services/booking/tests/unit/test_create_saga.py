"""The create-booking saga without a broker: given a state, feed a reply, expect a command."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from booking.domain.saga_engine import (
    Decision,
    SagaData,
    SagaState,
    SagaStatus,
    on_reply,
    on_timeout,
    retry_parked,
    start,
    state_to_json,
)
from booking.domain.sagas import CREATE_BOOKING, load_state
from contracts.base import Money
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
    PaymentAuthorized,
    PaymentCaptured,
    PaymentDeclined,
    PaymentVoided,
    VoidPayment,
)
from contracts.pricing import BookingPriced, PriceBooking

EUR_450 = Money(amount=Decimal("450.00"), currency="EUR")


def succeeded(decision: Decision) -> bool:
    return decision.finished and decision.state.status is SagaStatus.SUCCEEDED


def failed(decision: Decision) -> bool:
    return decision.finished and decision.state.status is SagaStatus.FAILED


def a_saga() -> SagaData:
    return SagaData(
        booking_id="b-1",
        resource_id="r-1",
        check_in=date(2027, 1, 10),
        check_out=date(2027, 1, 13),
        party={"adults": 2, "children": 0, "infants": 0},
        payment_method="pm_card_visa",
    )


def feed(state: SagaState, *replies):  # type: ignore[no-untyped-def]
    decisions = []
    for reply in replies:
        decision = on_reply(state, reply)
        decisions.append(decision)
        state = decision.state
    return state, decisions


def reserved(step: str = "reserve_capacity") -> CapacityReserved:
    return CapacityReserved(booking_id="b-1", step=step, reservation_id="res-1")


def priced() -> BookingPriced:
    return BookingPriced(
        booking_id="b-1",
        step="price_booking",
        quote_id="q-1",
        nights=3,
        nightly_rate=Money(amount=Decimal("150.00"), currency="EUR"),
        total=EUR_450,
    )


def authorized() -> PaymentAuthorized:
    return PaymentAuthorized(
        booking_id="b-1", step="authorize_payment", payment_id="p-1", amount=EUR_450
    )


def test_starts_by_reserving_capacity() -> None:
    decision = start(CREATE_BOOKING, a_saga())
    assert decision.command is not None
    assert isinstance(decision.command[1], ReserveCapacity)
    assert decision.command[1].step == "reserve_capacity"


def test_happy_path_runs_every_step_in_order_and_confirms() -> None:
    state = start(CREATE_BOOKING, a_saga()).state
    state, decisions = feed(
        state,
        reserved(),
        priced(),
        authorized(),
        ReservationConfirmed(booking_id="b-1", step="confirm_reservation", reservation_id="res-1"),
        PaymentCaptured(booking_id="b-1", step="capture_payment", payment_id="p-1", amount=EUR_450),
    )
    commands = [type(d.command[1]) for d in decisions if d.command]
    assert commands == [PriceBooking, AuthorizePayment, ConfirmReservation, CapturePayment]
    assert succeeded(decisions[-1])
    assert state.status is SagaStatus.SUCCEEDED
    assert state.data.total == EUR_450 and state.data.payment_id == "p-1"


def test_authorizes_exactly_the_quoted_total() -> None:
    _, decisions = feed(start(CREATE_BOOKING, a_saga()).state, reserved(), priced())
    command = decisions[-1].command[1]
    assert isinstance(command, AuthorizePayment)
    assert command.amount == EUR_450


def test_releases_capacity_when_payment_is_declined() -> None:
    state, decisions = feed(
        start(CREATE_BOOKING, a_saga()).state,
        reserved(),
        priced(),
        PaymentDeclined(
            booking_id="b-1", step="authorize_payment", payment_id="p-1", reason="card_declined"
        ),
    )
    assert isinstance(decisions[-1].command[1], ReleaseCapacity)
    assert state.status is SagaStatus.COMPENSATING
    state, decisions = feed(state, CapacityReleased(booking_id="b-1", step="release_capacity"))
    assert failed(decisions[-1])
    assert state.status is SagaStatus.FAILED
    assert state.failure_reason == "payment_declined" and state.failure_detail == "card_declined"


def test_rejects_without_charging_when_there_is_no_capacity() -> None:
    state, decisions = feed(
        start(CREATE_BOOKING, a_saga()).state,
        CapacityReservationRejected(
            booking_id="b-1", step="reserve_capacity", reason="insufficient_capacity"
        ),
    )
    assert failed(decisions[-1]) and decisions[-1].command is None
    assert state.failure_reason == "capacity_unavailable"


def test_a_stay_the_rules_refuse_is_not_bookable_rather_than_full() -> None:
    state, decisions = feed(
        start(CREATE_BOOKING, a_saga()).state,
        CapacityReservationRejected(
            booking_id="b-1", step="reserve_capacity", reason="minimum_stay_not_met"
        ),
    )
    assert failed(decisions[-1])
    assert (state.failure_reason, state.failure_detail) == ("not_bookable", "minimum_stay_not_met")


def test_voids_then_releases_when_the_reservation_cannot_be_confirmed() -> None:
    state, decisions = feed(
        start(CREATE_BOOKING, a_saga()).state,
        reserved(),
        priced(),
        authorized(),
        ReservationConfirmationFailed(
            booking_id="b-1",
            step="confirm_reservation",
            reservation_id="res-1",
            reason="reservation_released",
        ),
        PaymentVoided(booking_id="b-1", step="void_payment", payment_id="p-1"),
        CapacityReleased(booking_id="b-1", step="release_capacity"),
    )
    commands = [type(d.command[1]) for d in decisions if d.command]
    assert commands[-2:] == [VoidPayment, ReleaseCapacity]
    assert failed(decisions[-1])
    assert state.failure_reason == "reservation_confirmation_failed"


def test_ignores_a_late_duplicate_reply_for_an_earlier_step() -> None:
    state, _ = feed(start(CREATE_BOOKING, a_saga()).state, reserved(), priced())
    decision = on_reply(state, reserved())
    assert decision.ignored and decision.state == state


def test_resends_the_current_command_when_its_deadline_passes() -> None:
    state = start(CREATE_BOOKING, a_saga()).state
    decision = on_timeout(state, max_attempts=3)
    assert isinstance(decision.command[1], ReserveCapacity)
    assert decision.state.attempts == 2


def test_a_command_its_participant_has_not_consumed_is_not_sent_again() -> None:
    """A lagging participant gets no second copy to chew on: the step waits, attempts kept."""
    state = start(CREATE_BOOKING, a_saga()).state
    for _ in range(10):
        decision = on_timeout(state, max_attempts=3, consumed=False)
        assert decision.command is None and decision.wait_longer and not decision.ignored
        state = decision.state
    assert state.attempts == 1 and state.status is SagaStatus.RUNNING


def test_a_step_fails_on_its_deadline_whether_or_not_its_command_was_consumed() -> None:
    state = start(CREATE_BOOKING, a_saga()).state
    lagging = on_timeout(state, max_attempts=3, consumed=False, overdue=True)
    assert lagging.state.failure_reason == "step_timed_out"
    assert isinstance(lagging.command[1], ReleaseCapacity)  # type: ignore[index]
    answered_nothing = on_timeout(state, max_attempts=3, consumed=True, overdue=True)
    assert answered_nothing.state.failure_reason == "step_timed_out"


def test_a_reservation_that_timed_out_is_released_in_case_it_happened_late() -> None:
    state = start(CREATE_BOOKING, a_saga()).state
    state = on_timeout(state, 3).state
    state = on_timeout(state, 3).state
    decision = on_timeout(state, 3)
    assert isinstance(decision.command[1], ReleaseCapacity)
    assert decision.state.failure_reason == "step_timed_out"
    done = on_reply(decision.state, CapacityReleased(booking_id="b-1", step="release_capacity"))
    assert failed(done)
    late = on_reply(done.state, reserved())
    assert late.ignored


def test_compensates_when_a_step_never_answers() -> None:
    state, _ = feed(start(CREATE_BOOKING, a_saga()).state, reserved(), priced(), authorized())
    state = on_timeout(state, 3).state
    state = on_timeout(state, 3).state
    decision = on_timeout(state, 3)
    assert isinstance(decision.command[1], VoidPayment)  # confirm timed out: void, then release
    assert decision.state.pending_compensations == ("release_capacity",)
    assert decision.state.failure_reason == "step_timed_out"


def test_parks_when_a_compensation_never_answers_and_an_operator_can_retry() -> None:
    state, _ = feed(
        start(CREATE_BOOKING, a_saga()).state,
        reserved(),
        priced(),
        PaymentDeclined(booking_id="b-1", step="authorize_payment", payment_id="p-1", reason="x"),
    )
    for _ in range(2):
        state = on_timeout(state, 3).state
    parked = on_timeout(state, 3)
    assert parked.state.status is SagaStatus.PARKED and parked.command is None
    # A reply for another step, or to an earlier saga, leaves it parked.
    for stray in ("reserve_capacity", "release_capacity#2"):
        assert on_reply(parked.state, CapacityReleased(booking_id="b-1", step=stray)).ignored
    resumed = retry_parked(parked.state)
    assert isinstance(resumed.command[1], ReleaseCapacity)
    assert resumed.state.status is SagaStatus.COMPENSATING


def test_a_parked_compensation_that_succeeds_late_resumes_by_itself() -> None:
    """Inventory was down past the step deadline, then applied the release and answered: the
    work is done, so the saga finishes without an operator."""
    state, _ = feed(
        start(CREATE_BOOKING, a_saga()).state,
        reserved(),
        priced(),
        PaymentDeclined(booking_id="b-1", step="authorize_payment", payment_id="p-1", reason="x"),
    )
    parked = on_timeout(state, 3, overdue=True)
    assert parked.state.status is SagaStatus.PARKED
    late = on_reply(parked.state, CapacityReleased(booking_id="b-1", step="release_capacity"))
    assert not late.ignored and late.note.startswith("late CapacityReleased resumes")
    assert late.state.status is SagaStatus.FAILED and late.command is None
    assert late.state.failure_reason == "payment_declined"


def test_state_survives_a_round_trip_through_json() -> None:
    state, _ = feed(start(CREATE_BOOKING, a_saga()).state, reserved(), priced(), authorized())
    assert load_state(state_to_json(state)) == state
