"""The pricing engine: the seeds' numbers, every plan feature, and properties of every quote."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.base import CURRENCY_EXPONENTS
from pricing.domain.money import UnsupportedCurrency
from pricing.domain.plans import CancellationPolicy, InvalidPlan, RatePlan
from pricing.domain.quotes import (
    PartyMix,
    Stay,
    UnpriceableRequest,
    Window,
    modification_difference,
    quote,
    refund_quote,
)

D = Decimal
MONDAY = date(2027, 3, 1)  # a Monday


def plan(**doc) -> RatePlan:  # type: ignore[no-untyped-def]
    return RatePlan.from_json(
        {"currency": "EUR", "basis": "per_night", "base_price": "100.00", **doc}
    )


def amounts(priced) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {ln.description: str(ln.amount) for ln in priced.lines}


# -- the seeds' numbers ------------------------------------------------------------------------


def test_per_person_pricing_with_tax_for_two_adults_a_child_and_an_infant() -> None:
    tour = plan(basis="per_person", base_price="50.00")
    start = datetime(2027, 3, 2, 9, tzinfo=UTC)
    priced = quote(
        tour,
        party=PartyMix(adults=2, children=1, infants=1),
        window=Window(start, start + timedelta(hours=3), "Europe/Lisbon"),
    )
    assert amounts(priced) == {
        "2 adults × 1 slot (base)": "100.00",
        "1 child × 1 slot (base, 70 %)": "35.00",
        "1 infant × 1 slot (base, 0 %)": "0.00",
        "VAT 10 % on 135.00": "13.50",
    }
    assert (priced.subtotal, priced.taxes, priced.total) == (D("135.00"), D("13.50"), D("148.50"))


def test_hourly_pricing_of_a_ninety_minute_room_booking() -> None:
    room = plan(basis="per_hour", base_price="40.00")
    start = datetime(2027, 3, 2, 14, tzinfo=UTC)
    priced = quote(
        room, party=PartyMix(1), window=Window(start, start + timedelta(minutes=90), "UTC")
    )
    charge = priced.lines[0]
    assert (charge.quantity, charge.unit_price, charge.amount) == (D("1.5"), D("40.00"), D("60.00"))
    assert (priced.taxes, priced.total) == (D("6.00"), D("66.00"))


@pytest.mark.parametrize(
    ("hours", "percent", "refund"),
    [
        (48, 100, "200.00"),
        (24, 100, "200.00"),
        (12, 50, "100.00"),
        (6, 50, "100.00"),
        (2, 0, "0.00"),
    ],
)
def test_the_default_refund_tiers(hours: int, percent: int, refund: str) -> None:
    start = datetime(2027, 5, 1, 15, tzinfo=UTC)
    quoted = refund_quote(
        CancellationPolicy(),
        paid=D("200.00"),
        currency="EUR",
        starts_at=start,
        now=start - timedelta(hours=hours),
    )
    assert (quoted.refund_percent, quoted.refundable) == (D(percent), D(refund))


def test_a_minute_short_of_a_tier_falls_to_the_next() -> None:
    start = datetime(2027, 5, 1, 15, tzinfo=UTC)
    late = start - timedelta(hours=24) + timedelta(minutes=1)
    assert refund_quote(
        CancellationPolicy(), paid=D("99.99"), currency="EUR", starts_at=start, now=late
    ).refundable == D("50.00")  # 49.995 rounds half up


# -- plan features -----------------------------------------------------------------------------


def test_weekend_prices_seasons_length_discounts_fees_and_inclusive_tax() -> None:
    p = plan(
        weekend_price="130.00",
        seasons=[
            {
                "name": "Easter",
                "starts_on": "2027-03-04",
                "ends_on": "2027-03-06",
                "price": "150.00",
                "weekend_price": "180.00",
            }
        ],
        length_discounts=[{"min_units": 3, "percent": "5"}, {"min_units": 7, "percent": "10"}],
        fees=[
            {"name": "Cleaning", "amount": "35.00", "per": "booking"},
            {"name": "City tax", "amount": "2.00", "per": "person"},
        ],
        taxes=[{"name": "IVA", "percent": "6", "inclusive": True}],
    )
    # Mon..Sun nights: Mon-Wed weekday, Thu Easter, Fri Easter weekend, Sat weekend, Sun weekday
    priced = quote(p, party=PartyMix(2, 1, 1), stay=Stay(MONDAY, MONDAY + timedelta(days=7)))
    assert amounts(priced) == {
        "4 nights (weekday)": "400.00",
        "1 night (Easter)": "150.00",
        "1 night (Easter, weekend)": "180.00",
        "1 night (weekend)": "130.00",
        "10 % off from 7 units": "-86.00",
        "Cleaning (per booking)": "35.00",
        "City tax (per person)": "6.00",
        "IVA 6 % included 815.00": "46.13",
    }
    assert priced.total == D("815.00") and priced.taxes_included == D("46.13")


def test_zero_decimal_and_three_decimal_currencies_round_to_their_minor_unit() -> None:
    yen = RatePlan.from_json({"currency": "JPY", "basis": "per_person", "base_price": "1555"})
    priced = quote(yen, party=PartyMix(1, 1), stay=Stay(MONDAY, MONDAY + timedelta(days=1)))
    assert [str(ln.amount) for ln in priced.lines] == ["1555", "1089", "264"]  # 1088.5 → 1089
    dinar = RatePlan.from_json({"currency": "KWD", "base_price": "10.125"})
    assert quote(
        dinar, party=PartyMix(1), stay=Stay(MONDAY, MONDAY + timedelta(days=1))
    ).total == D("11.138")  # 1.0125 → 1.013


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"currency": "XYZ"}, "unsupported currency"),
        ({"base_price": "-1.00"}, "positive"),
        ({"base_price": "0"}, "positive"),
        ({"base_price": "10.001"}, "minor unit"),
        ({"base_price": "abc"}, "not a decimal"),
        ({"basis": "per_fortnight"}, "basis"),
        ({"weekend_days": [7]}, "weekday"),
        (
            {"seasons": [{"starts_on": "2027-01-05", "ends_on": "2027-01-01", "price": "1.00"}]},
            "after",
        ),
        (
            {
                "seasons": [
                    {
                        "name": "a",
                        "starts_on": "2027-01-01",
                        "ends_on": "2027-02-01",
                        "price": "1.00",
                    },
                    {
                        "name": "b",
                        "starts_on": "2027-01-20",
                        "ends_on": "2027-03-01",
                        "price": "1.00",
                    },
                ]
            },
            "overlap",
        ),
        ({"length_discounts": [{"min_units": 3, "percent": "120"}]}, "between 0 and 100"),
        ({"fees": [{"name": "x", "amount": "5.00", "per": "hour"}]}, "per booking"),
        ({"taxes": [{"name": "x", "percent": "-5"}]}, "between"),
        ({"party_categories": [{"name": "adults", "percent": "100"}]}, "exactly"),
        (
            {
                "cancellation_policy": [
                    {"hours_before": 24, "refund_percent": "50"},
                    {"hours_before": 6, "refund_percent": "80"},
                ]
            },
            "never refunds more",
        ),
        ({"cancellation_policy": []}, "1 to 20"),
    ],
)
def test_bad_plans_are_refused_with_a_named_reason(doc: dict, message: str) -> None:
    base = {"currency": "EUR", "basis": "per_night", "base_price": "100.00"}
    with pytest.raises((InvalidPlan, UnsupportedCurrency), match=message):
        RatePlan.from_json({**base, **doc})


def test_a_plan_survives_its_stored_form() -> None:
    p = plan(weekend_price="120.00", fees=[{"name": "Cleaning", "amount": "20.00"}])
    assert RatePlan.from_json(p.to_json()) == p


def test_requests_a_plan_cannot_price_are_refused() -> None:
    start = datetime(2027, 3, 2, 9, tzinfo=UTC)
    with pytest.raises(UnpriceableRequest, match="stays, not timeslots"):
        quote(plan(), party=PartyMix(1), window=Window(start, start + timedelta(hours=1), "UTC"))
    with pytest.raises(UnpriceableRequest, match="timeslots, not stays"):
        quote(
            plan(basis="per_hour"), party=PartyMix(1), stay=Stay(MONDAY, MONDAY + timedelta(days=1))
        )
    with pytest.raises(UnpriceableRequest):
        quote(plan(), party=PartyMix(0), stay=Stay(MONDAY, MONDAY + timedelta(days=1)))


def test_a_modification_is_the_difference_in_the_same_currency() -> None:
    p = plan()
    longer = quote(p, party=PartyMix(2), stay=Stay(MONDAY, MONDAY + timedelta(days=3)))
    diff = modification_difference(D("220.00"), "EUR", longer.total, longer.currency)
    assert (diff.amount, diff.action) == (D("110.00"), "charge")
    shorter = quote(p, party=PartyMix(2), stay=Stay(MONDAY, MONDAY + timedelta(days=1)))
    assert modification_difference(D("220.00"), "EUR", shorter.total, "EUR").action == "refund"
    with pytest.raises(UnpriceableRequest, match="priced in USD"):
        modification_difference(D("220.00"), "USD", shorter.total, shorter.currency)


# -- properties --------------------------------------------------------------------------------

currencies = st.sampled_from(["EUR", "JPY", "KWD", "USD"])


@st.composite
def plans_and_requests(draw):  # type: ignore[no-untyped-def]
    currency = draw(currencies)
    exp = CURRENCY_EXPONENTS[currency]

    def money(low: int = 1, high: int = 10**6) -> str:
        return str(D(draw(st.integers(low, high))).scaleb(-exp))

    basis = draw(st.sampled_from(["per_night", "per_person", "per_hour", "per_slot"]))
    doc = {
        "currency": currency,
        "basis": basis,
        "base_price": money(),
        "weekend_price": draw(st.none() | st.just(money())),
        "length_discounts": [{"min_units": 2, "percent": str(draw(st.integers(0, 100)))}],
        "fees": [
            {
                "name": "f",
                "amount": money(0, 10**4) if False else money(),
                "per": draw(st.sampled_from(["booking", "night", "person"])),
            }
        ],
        "taxes": [
            {
                "name": "t1",
                "percent": str(draw(st.decimals(0, 30, places=2))),
                "inclusive": draw(st.booleans()),
            },
            {
                "name": "t2",
                "percent": str(draw(st.decimals(0, 30, places=2))),
                "inclusive": draw(st.booleans()),
            },
        ],
        "party_categories": [
            {"name": "adults", "percent": "100"},
            {"name": "children", "percent": str(draw(st.decimals(0, 100, places=1)))},
            {"name": "infants", "percent": str(draw(st.decimals(0, 100, places=1)))},
        ],
    }
    party = PartyMix(draw(st.integers(1, 9)), draw(st.integers(0, 9)), draw(st.integers(0, 4)))
    start = MONDAY + timedelta(days=draw(st.integers(0, 400)))
    if basis in ("per_night",) or (basis == "per_person" and draw(st.booleans())):
        return (
            RatePlan.from_json(doc),
            party,
            Stay(start, start + timedelta(days=draw(st.integers(1, 30)))),
            None,
        )
    at = datetime(start.year, start.month, start.day, tzinfo=UTC) + timedelta(
        minutes=draw(st.integers(0, 1439))
    )
    window = Window(at, at + timedelta(minutes=draw(st.integers(1, 600))), "Europe/Lisbon")
    return RatePlan.from_json(doc), party, None, window


@settings(max_examples=300, deadline=None)
@given(plans_and_requests())
def test_lines_sum_to_the_total_which_is_never_negative_and_never_off_by_a_minor_unit(case) -> None:  # type: ignore[no-untyped-def]
    p, party, stay, window = case
    priced = quote(p, party=party, stay=stay, window=window)
    unit = D(1).scaleb(-CURRENCY_EXPONENTS[p.currency])
    assert sum(ln.amount for ln in priced.lines if ln.counts) == priced.total
    assert priced.subtotal + priced.discounts + priced.fees + priced.taxes == priced.total
    assert priced.total >= 0 and priced.subtotal >= 0 and priced.discounts <= 0
    for ln in priced.lines:
        assert ln.amount == ln.amount.quantize(unit), ln  # every line in whole minor units
        if ln.kind == "charge" and ln.quantity == ln.quantity.to_integral_value():
            assert ln.amount == ln.quantity * ln.unit_price  # explainable: quantity × unit
    assert priced.taxes_included <= priced.total


@settings(max_examples=300, deadline=None)
@given(
    paid=st.integers(0, 10**9),
    currency=currencies,
    minutes_before=st.integers(-10_000, 100_000),
)
def test_a_refund_never_exceeds_what_was_paid(
    paid: int, currency: str, minutes_before: int
) -> None:
    amount = D(paid).scaleb(-CURRENCY_EXPONENTS[currency])
    start = datetime(2027, 5, 1, tzinfo=UTC)
    quoted = refund_quote(
        CancellationPolicy(),
        paid=amount,
        currency=currency,
        starts_at=start,
        now=start - timedelta(minutes=minutes_before),
    )
    assert D(0) <= quoted.refundable <= amount
