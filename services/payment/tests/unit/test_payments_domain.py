"""The payment lifecycle table and the refund rule, including random sequences of refunds."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payment.domain.payments import (
    ALLOWED,
    IllegalTransition,
    InvalidAmount,
    NotRefundable,
    PaymentRuleBroken,
    PaymentStatus,
    RefundExceedsCaptured,
    check_refund,
    needs_void,
    next_status_on_capture,
    transition,
)

S = PaymentStatus


@pytest.mark.parametrize("current", list(S))
@pytest.mark.parametrize("target", list(S))
def test_every_transition_is_allowed_or_refused_by_the_table(
    current: PaymentStatus, target: PaymentStatus
) -> None:
    if target is current or target in ALLOWED[current]:
        assert transition(current, target) is target
    else:
        with pytest.raises(IllegalTransition):
            transition(current, target)


def test_terminal_states_stay_terminal_except_a_late_transfer() -> None:
    assert ALLOWED[S.CAPTURED] == frozenset() and ALLOWED[S.FAILED] == frozenset()
    assert ALLOWED[S.CANCELED] == frozenset({S.CAPTURED})


def test_capture_and_void_rules() -> None:
    assert next_status_on_capture(S.AUTHORIZED) is S.CAPTURED
    assert next_status_on_capture(S.CAPTURED) is S.CAPTURED  # idempotent
    for status in (S.REQUIRES_ACTION, S.FAILED, S.CANCELED, S.REQUIRES_PAYMENT_METHOD):
        with pytest.raises(PaymentRuleBroken):
            next_status_on_capture(status)
    assert needs_void(S.AUTHORIZED) and needs_void(S.REQUIRES_ACTION)
    assert not needs_void(S.FAILED) and not needs_void(S.CANCELED)
    with pytest.raises(PaymentRuleBroken):
        needs_void(S.CAPTURED)


def test_refund_rules() -> None:
    check_refund(S.CAPTURED, Decimal("100.00"), Decimal("70.00"), Decimal("30.00"))
    with pytest.raises(RefundExceedsCaptured):
        check_refund(S.CAPTURED, Decimal("100.00"), Decimal("70.00"), Decimal("30.01"))
    with pytest.raises(NotRefundable):
        check_refund(S.AUTHORIZED, Decimal("0"), Decimal("0"), Decimal("1.00"))
    for bad in (Decimal("0"), Decimal("-1"), Decimal("NaN"), Decimal("Infinity")):
        with pytest.raises(InvalidAmount):
            check_refund(S.CAPTURED, Decimal("100.00"), Decimal("0"), bad)


@given(
    captured=st.integers(0, 10**7),
    asks=st.lists(st.integers(-100, 10**6), max_size=40),
)
def test_random_refund_sequences_never_exceed_the_capture(captured: int, asks: list[int]) -> None:
    cap = Decimal(captured).scaleb(-2)
    refunded = Decimal(0)
    for ask in asks:
        amount = Decimal(ask).scaleb(-2)
        try:
            check_refund(S.CAPTURED, cap, refunded, amount)
        except PaymentRuleBroken:
            assert amount <= 0 or refunded + amount > cap
            continue
        refunded += amount
        assert Decimal(0) < refunded <= cap
