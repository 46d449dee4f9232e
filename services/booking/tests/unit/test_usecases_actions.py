"""The status actions' rules (cancel, check-in, complete, no-show, verify a transfer, retry a
parked saga), through their use cases on an in-memory unit of work: no database, no broker,
milliseconds. The end-to-end suite runs the same actions through HTTP on the real platform."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from booking_memory_uow import ADMIN, GUEST, NOW, OTHER_GUEST, STAFF, Booking, MemoryUnitOfWork

from booking.domain.booking import BookingStatus
from booking.domain.saga_engine import Participant, SagaStatus
from booking.domain.sagas import CREATE_BOOKING, NO_SHOW
from booking.usecases.cancel import CancelBooking, cancel_booking
from booking.usecases.no_show import MarkNoShow, mark_no_show
from booking.usecases.retry_saga import RetrySaga, retry_parked_saga
from booking.usecases.transitions import CheckIn, Complete, move
from booking.usecases.verify_payment import VerifyTransfer, verify_transfer
from contracts.payment import VerifyPayment
from service_kit.audit import Actor
from service_kit.auth import Principal, Role
from service_kit.problems import Problem

S = BookingStatus
OTHER_TENANT_STAFF = Principal(subject="desk", tenant="t-2", roles=frozenset({Role.STAFF}))


def on(booking_id: str, who: Principal, **more):  # type: ignore[no-untyped-def]
    return {"booking_id": booking_id, "who": who, "actor": Actor(who.subject), **more}


async def problem_of(coro) -> Problem:  # type: ignore[no-untyped-def]
    with pytest.raises(Problem) as caught:
        await coro
    return caught.value


# -- cancel ------------------------------------------------------------------------------------


async def test_a_guest_cancels_their_confirmed_booking_and_the_cancel_saga_starts() -> None:
    uow = MemoryUnitOfWork()
    uow.add(Booking(id="b-1"))
    cancelled = await cancel_booking(uow, CancelBooking(**on("b-1", GUEST), reason="plans"))
    assert cancelled.status == "cancelled" and cancelled.version == 2
    assert cancelled.cancel_reason == "plans" and cancelled.cancelled_by == "g-1"
    assert uow.moves == [("b-1", "cancelled", "plans")]
    [(saga, data, _)] = uow.started
    assert saga == "cancel_booking" and data.cancelled_at == NOW  # the refund is quoted by it


async def test_cancelling_while_the_create_saga_runs_aborts_it_instead_of_starting_one() -> None:
    uow = MemoryUnitOfWork()
    booking = uow.add(Booking(id="b-1", status=S.PENDING.value))
    uow.run_saga(booking, CREATE_BOOKING)
    await cancel_booking(uow, CancelBooking(**on("b-1", GUEST), reason="changed my mind"))
    assert uow.started == []
    [decision] = uow.advanced
    assert decision.state.abort_reason == "cancelled"


async def test_a_pending_booking_without_a_saga_is_just_cancelled() -> None:
    uow = MemoryUnitOfWork()
    uow.add(Booking(id="b-1", status=S.AWAITING_PAYMENT.value))
    await cancel_booking(uow, CancelBooking(**on("b-1", STAFF), reason="no transfer"))
    assert uow.moves == [("b-1", "cancelled", "no transfer")]
    assert uow.started == [] and uow.advanced == []


async def test_a_confirmed_booking_with_a_saga_in_progress_is_busy_and_nothing_changes() -> None:
    uow = MemoryUnitOfWork()
    booking = uow.add(Booking(id="b-1"))
    uow.run_saga(booking, NO_SHOW)
    problem = await problem_of(cancel_booking(uow, CancelBooking(**on("b-1", STAFF), reason="x")))
    assert (problem.status, problem.type) == (409, "booking-busy")
    assert problem.headers == {"Retry-After": "1"}
    assert not uow.changed and uow.bookings["b-1"] == booking


async def test_a_guest_cannot_cancel_a_checked_in_stay_but_staff_can() -> None:
    uow = MemoryUnitOfWork()
    uow.add(Booking(id="b-1", status=S.CHECKED_IN.value))
    problem = await problem_of(cancel_booking(uow, CancelBooking(**on("b-1", GUEST), reason="")))
    assert (problem.status, problem.type) == (403, "forbidden") and not uow.changed
    await cancel_booking(uow, CancelBooking(**on("b-1", STAFF), reason="left early"))
    assert uow.moves == [("b-1", "cancelled", "left early")]


async def test_cancelling_twice_is_an_illegal_transition_naming_what_is_allowed() -> None:
    uow = MemoryUnitOfWork()
    uow.add(Booking(id="b-1", status=S.CANCELLED.value))
    problem = await problem_of(cancel_booking(uow, CancelBooking(**on("b-1", GUEST), reason="")))
    assert (problem.status, problem.type) == (409, "illegal-transition")
    assert problem.extensions["current_status"] == "cancelled"
    assert "refunded" in problem.extensions["allowed"] and not uow.changed


@pytest.mark.parametrize("who", [OTHER_GUEST, OTHER_TENANT_STAFF])
async def test_another_guests_or_tenants_booking_is_not_found(who: Principal) -> None:
    uow = MemoryUnitOfWork()
    uow.add(Booking(id="b-1"))
    problem = await problem_of(cancel_booking(uow, CancelBooking(**on("b-1", who), reason="")))
    assert (problem.status, problem.type) == (404, "booking-not-found") and not uow.changed


async def test_if_match_must_name_the_current_version() -> None:
    uow = MemoryUnitOfWork()
    uow.add(Booking(id="b-1", version=3))
    stale = CancelBooking(**on("b-1", GUEST, if_match='"2"'), reason="")
    problem = await problem_of(cancel_booking(uow, stale))
    assert (problem.status, problem.type) == (412, "version-mismatch") and not uow.changed
    fresh = CancelBooking(**on("b-1", GUEST, if_match='W/"3"'), reason="")
    assert (await cancel_booking(uow, fresh)).version == 4


# -- check-in, complete, no-show ----------------------------------------------------------------


async def test_check_in_then_complete_stamp_the_booking_in_order() -> None:
    uow = MemoryUnitOfWork()
    uow.add(Booking(id="b-1"))
    checked_in = await move(uow, CheckIn(**on("b-1", STAFF), reason="arrived"))
    assert checked_in.status == "checked_in" and checked_in.checked_in_at == NOW
    completed = await move(uow, Complete(**on("b-1", STAFF)))
    assert completed.status == "completed" and completed.version == 3
    problem = await problem_of(move(uow, CheckIn(**on("b-1", STAFF))))
    assert (problem.status, problem.type) == (409, "illegal-transition")
    assert problem.extensions["allowed"] == []  # completed is immutable


async def test_completing_a_booking_that_never_checked_in_is_refused() -> None:
    uow = MemoryUnitOfWork()
    uow.add(Booking(id="b-1", status=S.CONFIRMED.value))
    problem = await problem_of(move(uow, Complete(**on("b-1", STAFF))))
    assert (problem.status, problem.type) == (409, "illegal-transition") and not uow.changed


async def test_a_no_show_before_the_start_is_refused_and_after_it_releases_by_a_saga() -> None:
    uow = MemoryUnitOfWork()
    uow.add(Booking(id="b-1", starts_at=NOW + timedelta(minutes=5)))
    problem = await problem_of(mark_no_show(uow, MarkNoShow(**on("b-1", STAFF))))
    assert (problem.status, problem.type) == (409, "not-started") and not uow.changed
    uow.now_is = NOW + timedelta(minutes=6)
    gone = await mark_no_show(uow, MarkNoShow(**on("b-1", STAFF), reason="never came"))
    assert gone.status == "no_show" and uow.moves == [("b-1", "no_show", "never came")]
    assert [name for name, _, _ in uow.started] == ["no_show"]


async def test_a_no_show_with_a_saga_in_progress_is_busy() -> None:
    uow = MemoryUnitOfWork()
    booking = uow.add(Booking(id="b-1"))
    uow.run_saga(booking, NO_SHOW)
    problem = await problem_of(mark_no_show(uow, MarkNoShow(**on("b-1", STAFF))))
    assert (problem.status, problem.type) == (409, "booking-busy") and not uow.changed


# -- verify a transfer, retry a parked saga ---------------------------------------------------


async def test_verifying_a_transfer_sends_the_command_and_audits_it() -> None:
    uow = MemoryUnitOfWork()
    uow.add(Booking(id="b-1", status=S.AWAITING_PAYMENT.value, payment_method="bank_transfer"))
    await verify_transfer(uow, VerifyTransfer(**on("b-1", ADMIN)))
    [(participant, command, note)] = uow.sent
    assert participant is Participant.PAYMENT and isinstance(command, VerifyPayment)
    assert command.payment_id == "p-1" and command.verified_by == "boss"
    assert command.step == "verify_payment#2" and note == "by boss"
    assert uow.audited == [("b-1", "verify_payment")] and uow.moves == []


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"payment_method": "card"}, "not-a-transfer"),
        ({"status": S.CONFIRMED.value}, "not-awaiting-payment"),
        ({"payment_id": None}, "not-awaiting-payment"),
    ],
)
async def test_there_is_nothing_to_verify_unless_a_transfer_is_awaited(
    changes: dict[str, object], code: str
) -> None:
    uow = MemoryUnitOfWork()
    base = Booking(id="b-1", status=S.AWAITING_PAYMENT.value, payment_method="bank_transfer")
    uow.add(replace(base, **changes))  # type: ignore[arg-type]
    problem = await problem_of(verify_transfer(uow, VerifyTransfer(**on("b-1", ADMIN))))
    assert (problem.status, problem.type) == (409, code) and not uow.changed


async def test_only_a_parked_saga_is_retried() -> None:
    uow = MemoryUnitOfWork()
    booking = uow.add(Booking(id="b-1"))
    problem = await problem_of(retry_parked_saga(uow, RetrySaga(**on("b-1", STAFF))))
    assert (problem.status, problem.type) == (409, "not-parked")
    saga = uow.run_saga(booking, NO_SHOW)
    problem = await problem_of(retry_parked_saga(uow, RetrySaga(**on("b-1", STAFF))))
    assert (problem.status, problem.type) == (409, "not-parked") and not uow.changed
    saga.state = replace(saga.state, status=SagaStatus.PARKED, parked_from=SagaStatus.RUNNING)
    await retry_parked_saga(uow, RetrySaga(**on("b-1", STAFF)))
    [decision] = uow.advanced
    assert decision.state.status is SagaStatus.RUNNING and decision.command is not None
    assert uow.audited == [("b-1", "saga_retry")]
