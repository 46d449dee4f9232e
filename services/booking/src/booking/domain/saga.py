"""The create-booking saga, as a table of steps. Pure: given a state and a reply, decide.

    reserve_capacity     ──compensation──▶ release_capacity
    price_booking
    authorize_payment    ──compensation──▶ void_payment
    confirm_reservation
    capture_payment

Forward, each step's success reply starts the next step; the last one confirms the booking.
A failure reply (or a step that times out after its retries) starts compensation: the
compensations of the steps that completed run in reverse order, one at a time, then the booking
ends ``rejected`` with the failed step's reason. A compensation that keeps timing out parks the
saga (``parked``): visible to staff, retried from the API, never silently dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from contracts.base import Money, Reply
from contracts.common import Party, SagaCommand, StayPeriod
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
    PaymentCaptureFailed,
    PaymentDeclined,
    PaymentVoided,
    VoidPayment,
)
from contracts.pricing import BookingPriced, BookingPricingFailed, PriceBooking


class SagaStatus(StrEnum):
    RUNNING = "running"
    COMPENSATING = "compensating"
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # compensated: everything given back
    PARKED = "parked"  # a compensation could not complete: needs an operator


class Participant(StrEnum):
    INVENTORY = "inventory"
    PRICING = "pricing"
    PAYMENT = "payment"


@dataclass(frozen=True)
class SagaData:
    """Everything the steps need, accumulated as replies arrive. Stored as JSON."""

    booking_id: str
    resource_id: str
    check_in: date
    check_out: date
    party: dict[str, int]
    payment_method: str
    reservation_id: str | None = None
    unit_id: str | None = None
    quote_id: str | None = None
    total_amount: Decimal | None = None
    currency: str | None = None
    payment_id: str | None = None

    @property
    def period(self) -> StayPeriod:
        return StayPeriod(check_in=self.check_in, check_out=self.check_out)

    @property
    def total(self) -> Money:
        assert self.total_amount is not None and self.currency is not None
        return Money(amount=self.total_amount, currency=self.currency)

    def to_json(self) -> dict[str, Any]:
        return {
            "booking_id": self.booking_id,
            "resource_id": self.resource_id,
            "check_in": self.check_in.isoformat(),
            "check_out": self.check_out.isoformat(),
            "party": dict(self.party),
            "payment_method": self.payment_method,
            "reservation_id": self.reservation_id,
            "unit_id": self.unit_id,
            "quote_id": self.quote_id,
            "total_amount": str(self.total_amount) if self.total_amount is not None else None,
            "currency": self.currency,
            "payment_id": self.payment_id,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> SagaData:
        return cls(
            booking_id=doc["booking_id"],
            resource_id=doc["resource_id"],
            check_in=date.fromisoformat(doc["check_in"]),
            check_out=date.fromisoformat(doc["check_out"]),
            party=dict(doc["party"]),
            payment_method=doc["payment_method"],
            reservation_id=doc.get("reservation_id"),
            unit_id=doc.get("unit_id"),
            quote_id=doc.get("quote_id"),
            total_amount=Decimal(doc["total_amount"]) if doc.get("total_amount") else None,
            currency=doc.get("currency"),
            payment_id=doc.get("payment_id"),
        )


CommandBuilder = Callable[[SagaData, str], SagaCommand]
Absorb = Callable[[SagaData, Any], SagaData]


def _keep(data: SagaData, _: Any) -> SagaData:
    return data


@dataclass(frozen=True)
class Compensation:
    name: str
    participant: Participant
    command: CommandBuilder
    done: type[Reply]


@dataclass(frozen=True)
class Step:
    name: str
    participant: Participant
    command: CommandBuilder
    success: type[Reply]
    failures: tuple[type[Reply], ...]
    failure_reason: str  # the booking's machine-readable rejection reason if this step fails
    # When one step can fail for different reasons the booking should tell apart.
    reason_of: Callable[[Any], str] | None = None
    absorb: Absorb = _keep  # what the success reply adds to the saga data
    absorb_failure: Absorb = _keep
    compensation: Compensation | None = None


CREATE_BOOKING: tuple[Step, ...] = (
    Step(
        name="reserve_capacity",
        participant=Participant.INVENTORY,
        command=lambda d, step: ReserveCapacity(
            booking_id=d.booking_id,
            step=step,
            resource_id=d.resource_id,
            period=d.period,
            quantity=1,
            party_size=Party(**d.party).size,
        ),
        success=CapacityReserved,
        failures=(CapacityReservationRejected,),
        failure_reason="capacity_unavailable",
        # Full nights are "capacity_unavailable"; a stay the resource's rules refuse (minimum
        # stay, changeover day, notice, inactive resource, ...) is "not_bookable".
        reason_of=lambda r: (
            "capacity_unavailable" if r.reason == "insufficient_capacity" else "not_bookable"
        ),
        absorb=lambda d, r: replace(
            d, reservation_id=r.reservation_id, unit_id=r.resource_id or d.resource_id
        ),
        compensation=Compensation(
            name="release_capacity",
            participant=Participant.INVENTORY,
            command=lambda d, step: ReleaseCapacity(
                booking_id=d.booking_id, step=step, reservation_id=d.reservation_id
            ),
            done=CapacityReleased,
        ),
    ),
    Step(
        name="price_booking",
        participant=Participant.PRICING,
        command=lambda d, step: PriceBooking(
            booking_id=d.booking_id,
            step=step,
            resource_id=d.resource_id,
            period=d.period,
            party=Party(**d.party),
        ),
        success=BookingPriced,
        failures=(BookingPricingFailed,),
        failure_reason="pricing_failed",
        absorb=lambda d, r: replace(
            d, quote_id=r.quote_id, total_amount=r.total.amount, currency=r.total.currency
        ),
    ),
    Step(
        name="authorize_payment",
        participant=Participant.PAYMENT,
        command=lambda d, step: AuthorizePayment(
            booking_id=d.booking_id, step=step, amount=d.total, payment_method=d.payment_method
        ),
        success=PaymentAuthorized,
        failures=(PaymentDeclined,),
        failure_reason="payment_declined",
        absorb=lambda d, r: replace(d, payment_id=r.payment_id),
        absorb_failure=lambda d, r: replace(d, payment_id=r.payment_id),
        compensation=Compensation(
            name="void_payment",
            participant=Participant.PAYMENT,
            command=lambda d, step: VoidPayment(
                booking_id=d.booking_id, step=step, payment_id=d.payment_id or ""
            ),
            done=PaymentVoided,
        ),
    ),
    Step(
        name="confirm_reservation",
        participant=Participant.INVENTORY,
        command=lambda d, step: ConfirmReservation(
            booking_id=d.booking_id, step=step, reservation_id=d.reservation_id or ""
        ),
        success=ReservationConfirmed,
        failures=(ReservationConfirmationFailed,),
        failure_reason="reservation_confirmation_failed",
    ),
    Step(
        name="capture_payment",
        participant=Participant.PAYMENT,
        command=lambda d, step: CapturePayment(
            booking_id=d.booking_id, step=step, payment_id=d.payment_id or ""
        ),
        success=PaymentCaptured,
        failures=(PaymentCaptureFailed,),
        failure_reason="payment_capture_failed",
    ),
)


@dataclass(frozen=True)
class SagaState:
    """Where one saga is. ``current`` names the step or compensation awaiting a reply."""

    data: SagaData
    status: SagaStatus = SagaStatus.RUNNING
    current: str = CREATE_BOOKING[0].name
    attempts: int = 1
    completed: tuple[str, ...] = ()  # forward steps that succeeded, in order
    pending_compensations: tuple[str, ...] = ()
    failure_reason: str | None = None
    failure_detail: str | None = None

    @property
    def terminal(self) -> bool:
        return self.status in (SagaStatus.SUCCEEDED, SagaStatus.FAILED)


@dataclass(frozen=True)
class Decision:
    """What the orchestrator must do after a reply or a timeout, all in one transaction."""

    state: SagaState
    command: tuple[Participant, SagaCommand] | None = None
    confirmed: bool = False
    rejected: bool = False
    ignored: bool = False
    note: str = ""
    log: list[str] = field(default_factory=list)


_STEPS = {s.name: s for s in CREATE_BOOKING}
_COMPENSATIONS = {s.compensation.name: s for s in CREATE_BOOKING if s.compensation}


def start(data: SagaData) -> Decision:
    """The first command of a new saga."""
    first = CREATE_BOOKING[0]
    state = SagaState(data=data)
    return Decision(state, (first.participant, first.command(data, first.name)))


def _command_for(state: SagaState) -> tuple[Participant, SagaCommand]:
    if state.current in _STEPS:
        step = _STEPS[state.current]
        return step.participant, step.command(state.data, step.name)
    comp = _COMPENSATIONS[state.current].compensation
    assert comp is not None
    return comp.participant, comp.command(state.data, comp.name)


def _next_compensation(state: SagaState) -> Decision:
    if not state.pending_compensations:
        done = replace(state, status=SagaStatus.FAILED, current="", attempts=0)
        return Decision(done, rejected=True, note=f"rejected: {state.failure_reason}")
    name, *rest = state.pending_compensations
    nxt = replace(state, current=name, pending_compensations=tuple(rest), attempts=1)
    return Decision(nxt, _command_for(nxt), note=f"compensating with {name}")


def _begin_compensation(
    state: SagaState, reason: str, detail: str, *, include_current: bool = False
) -> Decision:
    """Compensate the completed steps in reverse order.

    ``include_current``: the current step timed out, so its command may still be applied later
    (it waits in Kafka while the participant is down). Its own compensation runs first; commands
    of one booking share a partition, so the compensation is applied after the late command,
    and compensations are no-ops when there is nothing to undo.
    """
    names = list(reversed(state.completed))
    if include_current and state.current in _STEPS:
        names.insert(0, state.current)
    comps = tuple(
        _STEPS[name].compensation.name  # type: ignore[union-attr]
        for name in names
        if _STEPS[name].compensation is not None
    )
    comp_state = replace(
        state,
        status=SagaStatus.COMPENSATING,
        pending_compensations=comps,
        failure_reason=reason,
        failure_detail=detail,
    )
    return _next_compensation(comp_state)


def on_reply(state: SagaState, reply: Reply) -> Decision:
    """Advance on a participant's reply. Replies for another step (late duplicates) are ignored."""
    if state.terminal or state.status is SagaStatus.PARKED or reply.step != state.current:
        return Decision(
            state, ignored=True, note=f"ignored {type(reply).__name__} for {reply.step}"
        )
    if state.current in _STEPS:
        step = _STEPS[state.current]
        if isinstance(reply, step.success):
            data = step.absorb(state.data, reply)
            advanced = replace(state, data=data, completed=(*state.completed, step.name))
            index = CREATE_BOOKING.index(step)
            if index + 1 == len(CREATE_BOOKING):
                done = replace(advanced, status=SagaStatus.SUCCEEDED, current="", attempts=0)
                return Decision(done, confirmed=True, note="confirmed")
            nxt = CREATE_BOOKING[index + 1]
            moved = replace(advanced, current=nxt.name, attempts=1)
            return Decision(
                moved, (nxt.participant, nxt.command(data, nxt.name)), note=f"{step.name} done"
            )
        if isinstance(reply, step.failures):
            data = step.absorb_failure(state.data, reply)
            detail = str(getattr(reply, "reason", "") or "")
            reason = step.reason_of(reply) if step.reason_of else step.failure_reason
            return _begin_compensation(replace(state, data=data), reason, detail)
        return Decision(state, ignored=True, note=f"unexpected {type(reply).__name__}")
    owner = _COMPENSATIONS[state.current]
    assert owner.compensation is not None
    if isinstance(reply, owner.compensation.done):
        return _next_compensation(state)
    return Decision(state, ignored=True, note=f"unexpected {type(reply).__name__}")


def on_timeout(state: SagaState, max_attempts: int) -> Decision:
    """The current step had no reply before its deadline: resend, give up, or park.

    Resending is safe: every participant is idempotent per (booking, step).
    """
    if state.terminal or state.status is SagaStatus.PARKED:
        return Decision(state, ignored=True)
    if state.attempts < max_attempts:
        again = replace(state, attempts=state.attempts + 1)
        return Decision(again, _command_for(again), note=f"retry {state.current} #{again.attempts}")
    if state.status is SagaStatus.RUNNING:
        return _begin_compensation(
            state, "step_timed_out", f"{state.current} had no reply", include_current=True
        )
    parked = replace(state, status=SagaStatus.PARKED)
    return Decision(parked, note=f"parked: compensation {state.current} had no reply")


def retry_parked(state: SagaState) -> Decision:
    """An operator retries a parked compensation."""
    if state.status is not SagaStatus.PARKED:
        return Decision(state, ignored=True)
    resumed = replace(state, status=SagaStatus.COMPENSATING, attempts=1)
    return Decision(resumed, _command_for(resumed), note=f"operator retry of {state.current}")


def state_to_json(state: SagaState) -> dict[str, Any]:
    return {
        "status": state.status.value,
        "current": state.current,
        "attempts": state.attempts,
        "completed": list(state.completed),
        "pending_compensations": list(state.pending_compensations),
        "failure_reason": state.failure_reason,
        "failure_detail": state.failure_detail,
        "data": state.data.to_json(),
    }


def state_from_json(doc: dict[str, Any]) -> SagaState:
    return SagaState(
        data=SagaData.from_json(doc["data"]),
        status=SagaStatus(doc["status"]),
        current=doc["current"],
        attempts=doc["attempts"],
        completed=tuple(doc["completed"]),
        pending_compensations=tuple(doc["pending_compensations"]),
        failure_reason=doc.get("failure_reason"),
        failure_detail=doc.get("failure_detail"),
    )
