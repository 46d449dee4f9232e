"""The saga pictures in docs/sagas.md are drawn from the definitions: what they must show."""

from __future__ import annotations

import re

from booking.domain.saga_diagrams import mermaid
from booking.domain.sagas import CANCEL_BOOKING, CREATE_BOOKING, LATE_PAYMENT, MODIFY_BOOKING


def edges(text: str) -> list[tuple[str, str, str]]:
    """(from, arrow, to) of every edge; a label never holds a second ``|``."""
    found = re.findall(r"^  (\w+) (-->|-\.->)(?:\|([^|]+)\|)? (\w+)$", text, flags=re.M)
    return [(a, arrow, b) for a, arrow, _, b in found]


def test_the_create_saga_runs_its_steps_in_order_and_undoes_them_in_reverse() -> None:
    text = mermaid(CREATE_BOOKING)
    forward = [(a, b) for a, arrow, b in edges(text) if arrow == "-->"]
    assert forward[:6] == [
        ("start", "reserve_capacity"),
        ("reserve_capacity", "price_booking"),
        ("price_booking", "authorize_payment"),
        ("authorize_payment", "confirm_reservation"),
        ("confirm_reservation", "capture_payment"),
        ("capture_payment", "succeeded"),
    ]
    failures = {a: b for a, arrow, b in edges(text) if arrow == "-.->"}
    assert failures["reserve_capacity"] == "compensated"  # nothing taken yet
    assert failures["price_booking"] == "undo_release_capacity"
    assert failures["confirm_reservation"] == "undo_void_payment"  # the payment first
    assert ("undo_void_payment", "undo_release_capacity") in forward
    assert ("compensated", "failed") in forward and "parked" not in text


def test_a_saga_that_never_undoes_parks_every_failure() -> None:
    failures = {a: b for a, arrow, b in edges(mermaid(CANCEL_BOOKING)) if arrow == "-.->"}
    assert failures and set(failures.values()) == {"parked"}


def test_past_the_pivot_a_modification_parks_and_before_it_compensates() -> None:
    failures = {a: b for a, arrow, b in edges(mermaid(MODIFY_BOOKING)) if arrow == "-.->"}
    assert failures["capture_payment"] == "undo_void_payment"
    assert failures["refund_old_payment"] == failures["release_old_capacity"] == "parked"


def test_recovery_steps_run_after_a_compensated_late_payment() -> None:
    forward = [(a, b) for a, arrow, b in edges(mermaid(LATE_PAYMENT)) if arrow == "-->"]
    assert ("compensated", "refund_payment") in forward and ("refund_payment", "failed") in forward
