"""The saga engine: a saga is a table of steps, and this module decides what happens next.
Pure: given a state and a reply (or a timeout), it returns a decision; the orchestrator
(``booking.adapters.orchestrator``) carries the decision out in one transaction.

Forward, each step's success reply starts the next step; after the last one the saga has
``succeeded``. What a failure means depends on the saga (``SagaDefinition.on_failure``):

* ``compensate`` (create, late payment): the compensations of the steps that completed run in
  reverse order, one at a time, then any ``recovery`` steps (a late payment that finds no
  capacity refunds), and the saga has ``failed`` with the failed step's reason. A compensation
  that keeps timing out parks the saga.
* ``park`` (cancel, no-show): the booking has already changed and there is nothing to undo, only
  work to finish; a failure parks the saga on the failed step.

A compensating saga may name a ``pivot``: the last step that can still be undone. A failure of a
step after it parks instead (a modification whose new payment is captured finishes by refunding
the old one and releasing the old capacity; it does not go back).

A ``parked`` saga is visible to staff and retried from the API (the step it stopped on is sent
again); it is never dropped silently. Every participant is idempotent per command key, so
sending a command twice is always safe.

Step labels carry the saga's number for the booking (``reserve_capacity`` for the first saga,
``reserve_capacity#3`` for the third), so a late reply to an earlier saga never advances a newer
one.

While the payment waits for the guest (3-D Secure, a bank transfer), the authorize step is
*waiting*: its deadline is the payment deadline, not the step timeout, and it is not resent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from booking.domain.saga_data import SagaData
from contracts.base import Reply
from contracts.common import SagaCommand


class SagaStatus(StrEnum):
    RUNNING = "running"
    COMPENSATING = "compensating"
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # compensated: everything given back
    PARKED = "parked"  # a step or compensation could not complete: needs an operator


ACTIVE = frozenset({SagaStatus.RUNNING, SagaStatus.COMPENSATING, SagaStatus.PARKED})


class OnFailure(StrEnum):
    """What a saga does when a step fails for good."""

    COMPENSATE = "compensate"  # undo the steps done, in reverse (then its recovery steps)
    PARK = "park"  # stop where it is for an operator (nothing it did may be undone)


class Participant(StrEnum):
    INVENTORY = "inventory"
    PRICING = "pricing"
    PAYMENT = "payment"


CommandBuilder = Callable[[SagaData, str], SagaCommand]
Absorb = Callable[[SagaData, Any], SagaData]


def _keep(data: SagaData, _: Any) -> SagaData:
    return data


@dataclass(frozen=True)
class Compensation:
    name: str
    participant: Participant
    command: CommandBuilder
    done: tuple[type[Reply], ...]
    absorb: Absorb = _keep


@dataclass(frozen=True)
class Waiting:
    """A reply that says "not yet": the step waits (until ``deadline_of``) for its final answer."""

    reply: type[Reply]
    absorb: Absorb
    deadline_of: Callable[[SagaData], datetime | None]
    reason_on_timeout: str  # the failure reason when the wait ends without an answer


@dataclass(frozen=True)
class Step:
    name: str
    participant: Participant
    command: CommandBuilder
    success: type[Reply]
    failures: tuple[type[Reply], ...]
    failure_reason: str  # the machine-readable reason if this step fails
    # When one step can fail for different reasons the booking should tell apart.
    reason_of: Callable[[Any], str] | None = None
    absorb: Absorb = _keep  # what the success reply adds to the saga data
    absorb_failure: Absorb = _keep
    compensation: Compensation | None = None
    waiting: Waiting | None = None
    skip_if: Callable[[SagaData], bool] | None = None  # nothing to do for this booking


@dataclass(frozen=True)
class SagaDefinition:
    name: str
    steps: tuple[Step, ...]
    on_failure: OnFailure
    recovery: tuple[Step, ...] = ()  # forward steps after a compensated failure
    pivot: str | None = None  # failures of the steps after this one park

    def step(self, name: str) -> Step | None:
        return next((s for s in (*self.steps, *self.recovery) if s.name == name), None)

    def past_pivot(self, name: str) -> bool:
        names = [s.name for s in self.steps]
        return (
            self.pivot is not None and name in names and names.index(name) > names.index(self.pivot)
        )

    def compensation_owner(self, name: str) -> Step | None:
        return next((s for s in self.steps if s.compensation and s.compensation.name == name), None)


def label(name: str, seq: int) -> str:
    """The step name on the wire: unique per saga of one booking."""
    return name if seq <= 1 else f"{name}#{seq}"


@dataclass(frozen=True)
class SagaState:
    """Where one saga is. ``current`` names the step or compensation awaiting a reply."""

    definition: SagaDefinition
    data: SagaData
    seq: int = 1
    status: SagaStatus = SagaStatus.RUNNING
    current: str = ""
    attempts: int = 1
    completed: tuple[str, ...] = ()  # forward steps that succeeded, in order
    pending_compensations: tuple[str, ...] = ()
    in_recovery: bool = False
    waiting: bool = False
    abort_reason: str | None = None  # set when the booking was cancelled under a running saga
    parked_from: SagaStatus | None = None  # what a retry resumes
    failure_reason: str | None = None
    failure_detail: str | None = None

    @property
    def terminal(self) -> bool:
        return self.status in (SagaStatus.SUCCEEDED, SagaStatus.FAILED)

    @property
    def current_label(self) -> str:
        return label(self.current, self.seq)


@dataclass(frozen=True)
class Decision:
    """What the orchestrator must do after a reply or a timeout, all in one transaction."""

    state: SagaState
    command: tuple[Participant, SagaCommand] | None = None
    ignored: bool = False
    began_waiting: bool = False  # the payment now waits for the guest
    # Nothing to send: the step's command has not been consumed yet (its participant lags);
    # look again a step timeout from now.
    wait_longer: bool = False
    note: str = ""

    @property
    def finished(self) -> bool:
        return not self.ignored and self.state.terminal


def _command(state: SagaState) -> tuple[Participant, SagaCommand]:
    definition, step_label = state.definition, state.current_label
    step = definition.step(state.current)
    if step is not None and state.status is not SagaStatus.COMPENSATING:
        participant, build = step.participant, step.command
    else:
        owner = definition.compensation_owner(state.current)
        assert owner is not None and owner.compensation is not None, state.current
        participant, build = owner.compensation.participant, owner.compensation.command
    command = build(state.data, step_label)
    # Every command carries the booking's tenant: participants scope by it (set here, once,
    # rather than by each builder).
    tenant = state.data.tenant_id
    if tenant is not None and command.tenant_id != tenant:
        command = command.model_copy(update={"tenant_id": tenant})
    return participant, command


def _run_from(state: SagaState, steps: tuple[Step, ...], note: str) -> Decision:
    """Start the first step of ``steps`` that has work to do; succeed or fail when none is left."""
    for step in steps:
        if step.skip_if is not None and step.skip_if(state.data):
            continue
        moved = replace(state, current=step.name, attempts=1, waiting=False)
        return Decision(moved, _command(moved), note=note)
    if state.in_recovery or state.status is SagaStatus.COMPENSATING:
        done = replace(state, status=SagaStatus.FAILED, current="", attempts=0, waiting=False)
        return Decision(done, note=f"failed: {state.failure_reason}")
    done = replace(state, status=SagaStatus.SUCCEEDED, current="", attempts=0, waiting=False)
    return Decision(done, note=note or "succeeded")


def start(definition: SagaDefinition, data: SagaData, seq: int = 1) -> Decision:
    """The first command of a new saga."""
    return _run_from(SagaState(definition=definition, data=data, seq=seq), definition.steps, "")


def _next_compensation(state: SagaState) -> Decision:
    if not state.pending_compensations:
        recovering = replace(state, status=SagaStatus.RUNNING, in_recovery=True)
        return _run_from(recovering, state.definition.recovery, "recovering")
    name, *rest = state.pending_compensations
    nxt = replace(state, current=name, pending_compensations=tuple(rest), attempts=1, waiting=False)
    return Decision(nxt, _command(nxt), note=f"compensating with {name}")


def _park(state: SagaState, note: str) -> Decision:
    return Decision(
        replace(state, status=SagaStatus.PARKED, parked_from=state.status, waiting=False),
        note=note,
    )


def _fail(state: SagaState, reason: str, detail: str, *, include_current: bool = False) -> Decision:
    """A forward step failed: compensate the completed steps in reverse order, or park.

    ``include_current``: the current step timed out, so its command may still be applied later
    (it waits in Kafka while the participant is down). Its own compensation runs first; commands
    of one booking share a partition, so the compensation is applied after the late command,
    and compensations are no-ops when there is nothing to undo.
    """
    failed = replace(state, failure_reason=reason, failure_detail=detail, waiting=False)
    definition = state.definition
    if (
        definition.on_failure is OnFailure.PARK
        or state.in_recovery
        or definition.past_pivot(state.current)
    ):
        return _park(failed, f"parked on {state.current}: {reason}")
    names = list(reversed(state.completed))
    if include_current and state.definition.step(state.current) is not None:
        names.insert(0, state.current)
    comps = []
    for name in names:
        step = state.definition.step(name)
        if step is not None and step.compensation is not None:
            comps.append(step.compensation.name)
    return _next_compensation(
        replace(failed, status=SagaStatus.COMPENSATING, pending_compensations=tuple(comps))
    )


def _succeeds(state: SagaState, reply: Reply) -> bool:
    """Whether ``reply`` is the success of the step or compensation ``state`` is on."""
    definition = state.definition
    if state.status is SagaStatus.COMPENSATING:
        owner = definition.compensation_owner(state.current)
        comp = owner.compensation if owner is not None else None
        return comp is not None and isinstance(reply, comp.done)
    step = definition.step(state.current)
    return step is not None and isinstance(reply, step.success)


def on_reply(state: SagaState, reply: Reply) -> Decision:
    """Advance on a participant's reply. Replies for another step (late duplicates, earlier
    sagas, side commands) are ignored.

    A parked saga resumes when the step it parked on succeeds after all (its participant was
    behind or down past the step deadline, then applied the command and answered): the work is
    done, and an operator's retry would only have led here. A failure reply leaves it parked."""
    if (
        state.status is SagaStatus.PARKED
        and state.parked_from is not None
        and reply.step == state.current_label
    ):
        resumed = replace(state, status=state.parked_from, parked_from=None, attempts=1)
        if _succeeds(resumed, reply):
            decision = on_reply(resumed, reply)
            return replace(decision, note=f"late {type(reply).__name__} resumes: {decision.note}")
    if state.terminal or state.status is SagaStatus.PARKED or reply.step != state.current_label:
        return Decision(
            state, ignored=True, note=f"ignored {type(reply).__name__} for {reply.step}"
        )
    definition = state.definition
    if state.status is SagaStatus.COMPENSATING:
        owner = definition.compensation_owner(state.current)
        assert owner is not None and owner.compensation is not None
        if isinstance(reply, owner.compensation.done):
            absorbed = replace(state, data=owner.compensation.absorb(state.data, reply))
            return _next_compensation(absorbed)
        return Decision(state, ignored=True, note=f"unexpected {type(reply).__name__}")
    step = definition.step(state.current)
    assert step is not None
    if step.waiting is not None and isinstance(reply, step.waiting.reply):
        if state.waiting:
            return Decision(state, ignored=True, note="still waiting")
        if state.abort_reason is not None:
            return _fail(
                state, state.abort_reason, "the booking was cancelled", include_current=True
            )
        waiting = replace(state, data=step.waiting.absorb(state.data, reply), waiting=True)
        return Decision(waiting, began_waiting=True, note=f"{step.name} waits for the guest")
    if isinstance(reply, step.success):
        data = step.absorb(state.data, reply)
        advanced = replace(state, data=data, completed=(*state.completed, step.name))
        if state.abort_reason is not None and not state.in_recovery:
            return _fail(advanced, state.abort_reason, "the booking was cancelled")
        steps = definition.recovery if state.in_recovery else definition.steps
        rest = steps[steps.index(step) + 1 :]
        return _run_from(advanced, rest, f"{step.name} done")
    if isinstance(reply, step.failures):
        data = step.absorb_failure(state.data, reply)
        detail = str(getattr(reply, "reason", "") or "")
        reason = step.reason_of(reply) if step.reason_of else step.failure_reason
        if state.abort_reason is not None:
            reason = state.abort_reason
        return _fail(replace(state, data=data), reason, detail)
    return Decision(state, ignored=True, note=f"unexpected {type(reply).__name__}")


def on_timeout(
    state: SagaState, max_attempts: int, *, consumed: bool = True, overdue: bool = False
) -> Decision:
    """The current step had no reply before its deadline: wait, resend, give up, or park.

    A command its participant has not consumed yet (``consumed`` False: it lags, or is down)
    is not sent again, which would only pile more on it: the step waits. A command consumed
    without a reply (the reply or the command was dead-lettered, say) is sent again, up to
    ``max_attempts`` sends. Either way the step fails (or, for a compensation, parks) once it
    is ``overdue``: older than the step deadline, a deadline and never lag alone.

    A waiting step is not resent: its deadline is the payment's, and passing it ends the wait.
    """
    if state.terminal or state.status is SagaStatus.PARKED:
        return Decision(state, ignored=True)
    step = state.definition.step(state.current)
    if state.waiting and step is not None and step.waiting is not None:
        return _fail(
            state,
            step.waiting.reason_on_timeout,
            "no payment by the deadline",
            include_current=True,
        )
    if not overdue:
        if not consumed:
            return Decision(
                state, wait_longer=True, note=f"{state.current}: command not consumed yet"
            )
        if state.attempts < max_attempts:
            again = replace(state, attempts=state.attempts + 1)
            return Decision(again, _command(again), note=f"retry {state.current} #{again.attempts}")
    if state.status is SagaStatus.RUNNING:
        return _fail(state, "step_timed_out", f"{state.current} had no reply", include_current=True)
    return _park(state, f"parked: {state.current} had no reply")


def abort(state: SagaState, reason: str) -> Decision:
    """The booking was cancelled while this saga runs: give back what it took.

    A waiting step stops waiting now; a step in flight finishes first (its reply, success or
    failure, turns the saga to compensation). Nothing to do for a saga that already ended.
    """
    if state.terminal or state.abort_reason is not None:
        return Decision(state, ignored=True, note="nothing to abort")
    marked = replace(state, abort_reason=reason)
    if state.status is SagaStatus.PARKED:
        return Decision(marked, note=f"abort ({reason}) noted on a parked saga")
    if state.waiting:
        return _fail(marked, reason, "the booking was cancelled", include_current=True)
    return Decision(marked, note=f"abort ({reason}) after {state.current}")


def retry_parked(state: SagaState) -> Decision:
    """An operator retries a parked saga: the step or compensation it stopped on is sent again."""
    if state.status is not SagaStatus.PARKED:
        return Decision(state, ignored=True)
    resumed = replace(
        state, status=state.parked_from or SagaStatus.RUNNING, parked_from=None, attempts=1
    )
    return Decision(resumed, _command(resumed), note=f"operator retry of {state.current}")


def state_to_json(state: SagaState) -> dict[str, Any]:
    return {
        "type": state.definition.name,
        "seq": state.seq,
        "status": state.status.value,
        "current": state.current,
        "attempts": state.attempts,
        "completed": list(state.completed),
        "pending_compensations": list(state.pending_compensations),
        "in_recovery": state.in_recovery,
        "waiting": state.waiting,
        "abort_reason": state.abort_reason,
        "parked_from": state.parked_from.value if state.parked_from else None,
        "failure_reason": state.failure_reason,
        "failure_detail": state.failure_detail,
        "data": state.data.to_json(),
    }


def state_from_json(doc: dict[str, Any], definitions: dict[str, SagaDefinition]) -> SagaState:
    return SagaState(
        definition=definitions[doc.get("type", "create_booking")],
        data=SagaData.from_json(doc["data"]),
        seq=doc.get("seq", 1),
        status=SagaStatus(doc["status"]),
        current=doc["current"],
        attempts=doc["attempts"],
        completed=tuple(doc["completed"]),
        pending_compensations=tuple(doc["pending_compensations"]),
        in_recovery=doc.get("in_recovery", False),
        waiting=doc.get("waiting", False),
        abort_reason=doc.get("abort_reason"),
        parked_from=SagaStatus(doc["parked_from"]) if doc.get("parked_from") else None,
        failure_reason=doc.get("failure_reason"),
        failure_detail=doc.get("failure_detail"),
    )


__all__ = [
    "ACTIVE",
    "Compensation",
    "Decision",
    "Participant",
    "SagaDefinition",
    "SagaState",
    "SagaStatus",
    "Step",
    "Waiting",
    "abort",
    "label",
    "on_reply",
    "on_timeout",
    "retry_parked",
    "start",
    "state_from_json",
    "state_to_json",
]
