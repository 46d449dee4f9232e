"""A model test of the pure saga engine: Hypothesis drives every saga definition with the
answers its participants could give (success, each failure, a "not yet"), duplicated,
reordered and late replies, timeouts with the command consumed or not and before or after the
step deadline, aborts (the guest cancels) and operator retries of a parked saga.

After every step: a compensation is started at most once per step it undoes, nothing is
compensated that never began, no command goes out from a finished or parked saga, and the state
survives its JSON round trip. At the end, answering with timeouts past the deadline (a
participant that never comes back) always reaches a terminal or parked state within a bound.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from booking.domain.saga_engine import (
    Decision,
    SagaData,
    SagaDefinition,
    SagaState,
    SagaStatus,
    Step,
    abort,
    on_reply,
    on_timeout,
    retry_parked,
    start,
    state_from_json,
    state_to_json,
)
from booking.domain.sagas import DEFINITIONS
from contracts.base import Money, Reply
from contracts.examples import example

MAX_ATTEMPTS = 3


def a_saga_data() -> SagaData:
    return SagaData(
        booking_id="b-1",
        resource_id="r-1",
        check_in=date(2027, 1, 10),
        check_out=date(2027, 1, 13),
        party={"adults": 2, "children": 0, "infants": 0},
        payment_method="bank_transfer",
        tenant_id="t-1",
        total_amount=Money(amount=1, currency="EUR").amount,
        currency="EUR",
        payment_id="p-1",
        paid_amount=Money(amount=1, currency="EUR").amount,
        refunded_amount=Money(amount=0, currency="EUR").amount,
        reservation_id="res-0",
        old_reservation_id="res-old",
        old_payment_id="p-old",
        refund_amount=Money(amount=1, currency="EUR").amount,
        cancelled_at=datetime(2027, 1, 1, tzinfo=UTC),
        starts_at=datetime(2027, 1, 10, 15, tzinfo=UTC),
        pay_by=datetime(2027, 1, 1, tzinfo=UTC) + timedelta(hours=1),
    )


def reply(model: type[Reply], step_label: str) -> Reply:
    """A valid reply of ``model`` (from the contracts' example) for ``step_label``."""
    return model.model_validate({**example(model), "booking_id": "b-1", "step": step_label})


def answers(step: Step) -> list[type[Reply]]:
    kinds: list[type[Reply]] = [step.success, *step.failures]
    if step.waiting is not None:
        kinds.append(step.waiting.reply)
    if step.compensation is not None:
        kinds += list(step.compensation.done)
    return kinds


class SagaEngine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.state: SagaState
        self.sent: list[Reply] = []  # every reply ever delivered, for duplicates and late ones
        self.started: Counter[str] = Counter()  # compensations started, by name
        self.begun: set[str] = set()  # forward steps whose command went out

    @initialize(definition=st.sampled_from(sorted(DEFINITIONS.values(), key=lambda d: d.name)))
    def begin(self, definition: SagaDefinition) -> None:
        self.definition = definition
        self.apply(start(definition, a_saga_data(), seq=2))

    def apply(self, decision: Decision) -> None:
        before = self.state if hasattr(self, "state") else None
        if before is not None and (before.terminal or before.status is SagaStatus.PARKED):
            # Only an operator's retry, or the late success of the step it parked on, moves a
            # parked saga on.
            assert decision.command is None or decision.note.startswith(
                ("operator retry", "late ")
            ), "a finished or parked saga sent a command"
        state = decision.state
        if decision.command is not None and state.status is SagaStatus.RUNNING:
            self.begun.add(state.current)
        if (
            decision.command is not None
            and state.status is SagaStatus.COMPENSATING
            and state.attempts == 1
            and not decision.note.startswith("operator retry")
        ):
            self.started[state.current] += 1
        self.state = state

    # -- what participants and people do -----------------------------------------------------

    @precondition(lambda self: not self.state.terminal)
    @rule(data=st.data())
    def a_participant_answers_the_current_step(self, data: st.DataObject) -> None:
        current = self.definition.step(self.state.current)
        owner = self.definition.compensation_owner(self.state.current)
        kinds: list[type[Reply]] = []
        if current is not None:
            kinds += answers(current)
        if owner is not None and owner.compensation is not None:
            kinds += list(owner.compensation.done)
        if not kinds:
            return
        answer = reply(data.draw(st.sampled_from(kinds)), self.state.current_label)
        self.sent.append(answer)
        self.apply(on_reply(self.state, answer))

    @precondition(lambda self: bool(self.sent))
    @rule(data=st.data())
    def an_old_reply_arrives_again(self, data: st.DataObject) -> None:
        """A duplicate (Kafka delivers at least once), or a reply to an earlier step or an
        earlier attempt, arriving late and out of order."""
        self.apply(on_reply(self.state, data.draw(st.sampled_from(self.sent))))

    @rule(data=st.data())
    def a_reply_of_another_saga_arrives(self, data: st.DataObject) -> None:
        """A late reply to the booking's first saga (its labels carry no number)."""
        step = data.draw(st.sampled_from(self.definition.steps))
        self.apply(on_reply(self.state, reply(step.success, step.name)))

    @rule(consumed=st.booleans(), overdue=st.booleans())
    def the_step_deadline_passes(self, consumed: bool, overdue: bool) -> None:
        decision = on_timeout(self.state, MAX_ATTEMPTS, consumed=consumed, overdue=overdue)
        if not consumed and not overdue and not self.state.waiting:
            # A lagging participant is never sent a second copy.
            assert decision.command is None, decision
        self.apply(decision)

    @rule()
    def the_guest_cancels(self) -> None:
        self.apply(abort(self.state, "cancelled_by_guest"))

    @rule()
    def an_operator_retries(self) -> None:
        self.apply(retry_parked(self.state))

    # -- what must always hold ---------------------------------------------------------------

    @invariant()
    def each_compensation_starts_at_most_once(self) -> None:
        assert all(n <= 1 for n in self.started.values()), self.started

    @invariant()
    def only_what_began_is_compensated(self) -> None:
        for name in self.started:
            owner = self.definition.compensation_owner(name)
            assert owner is not None and owner.name in self.begun, (name, self.begun)

    @invariant()
    def the_state_survives_its_json_round_trip(self) -> None:
        assert state_from_json(state_to_json(self.state), DEFINITIONS) == self.state

    def teardown(self) -> None:
        """A participant that never answers again: the saga ends or parks, never hangs."""
        state = self.state
        for _ in range(4 * (len(self.definition.steps) + len(self.definition.recovery)) + 4):
            if state.terminal or state.status is SagaStatus.PARKED:
                return
            state = on_timeout(state, MAX_ATTEMPTS, consumed=False, overdue=True).state
        raise AssertionError(f"neither terminal nor parked: {state}")


SagaEngine.TestCase.settings = settings(
    max_examples=300,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestSagaEngine = SagaEngine.TestCase


def test_every_definition_is_driven() -> None:
    """The model covers every saga the orchestrator runs."""
    assert {d.name for d in DEFINITIONS.values()} >= {
        "create_booking",
        "cancel_booking",
        "late_payment",
        "late_payment_refund",
        "modify_booking",
    }
