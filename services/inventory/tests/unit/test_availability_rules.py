"""Every availability rule, each with a case that passes and one that fails."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from inventory.domain.rules import (
    AvailabilityRules,
    InvalidRules,
    check_stay,
    claimed_until,
    stay_start,
)

LISBON = "Europe/Lisbon"
NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)  # a Monday


def failed(
    rules: AvailabilityRules, check_in: date, nights: int, party: int = 2, now: datetime = NOW
) -> list[str]:
    return [
        v.rule
        for v in check_stay(
            rules,
            check_in=check_in,
            check_out=check_in + timedelta(days=nights),
            party_size=party,
            now=now,
            tz=LISBON,
        )
    ]


def test_defaults_accept_any_future_stay() -> None:
    assert failed(AvailabilityRules(), date(2027, 3, 10), 1) == []


def test_minimum_stay() -> None:
    rules = AvailabilityRules(min_stay_nights=3)
    assert failed(rules, date(2027, 3, 10), 3) == []
    assert failed(rules, date(2027, 3, 10), 2) == ["MinimumStayNotMet"]


def test_maximum_stay() -> None:
    rules = AvailabilityRules(max_stay_nights=7)
    assert failed(rules, date(2027, 3, 10), 7) == []
    assert failed(rules, date(2027, 3, 10), 8) == ["MaximumStayExceeded"]


def test_changeover_weekdays_for_check_in_and_check_out() -> None:
    saturdays = AvailabilityRules(check_in_weekdays=(5,), check_out_weekdays=(5,))
    assert failed(saturdays, date(2027, 3, 13), 7) == []  # Saturday to Saturday
    assert failed(saturdays, date(2027, 3, 14), 6) == ["ChangeoverDayNotAllowed"]  # in on Sunday
    assert failed(saturdays, date(2027, 3, 13), 6) == ["ChangeoverDayNotAllowed"]  # out on Friday
    assert failed(saturdays, date(2027, 3, 14), 5) == ["ChangeoverDayNotAllowed"] * 2


def test_minimum_notice_and_start_in_the_past() -> None:
    rules = AvailabilityRules(min_notice_hours=48)
    assert failed(rules, date(2027, 3, 4), 1) == []
    assert failed(rules, date(2027, 3, 2), 1) == ["MinimumNoticeNotMet"]
    assert failed(AvailabilityRules(), date(2027, 2, 27), 1) == ["StartInPast"]
    # Today, check-in at 15:00 Lisbon (UTC+0 in March): 12:00 UTC is still before it.
    assert failed(AvailabilityRules(), date(2027, 3, 1), 1) == []


def test_booking_horizon() -> None:
    rules = AvailabilityRules(booking_horizon_days=90)
    assert failed(rules, date(2027, 5, 30), 1) == []  # 90 days ahead
    assert failed(rules, date(2027, 5, 31), 1) == ["BeyondBookingHorizon"]


def test_party_size_limits() -> None:
    rules = AvailabilityRules(min_party=2, max_party=4)
    assert failed(rules, date(2027, 3, 10), 1, party=2) == []
    assert failed(rules, date(2027, 3, 10), 1, party=4) == []
    assert failed(rules, date(2027, 3, 10), 1, party=1) == ["PartyTooSmall"]
    assert failed(rules, date(2027, 3, 10), 1, party=5) == ["PartyTooLarge"]


def test_buffer_days_are_claimed_after_the_stay() -> None:
    assert claimed_until(date(2027, 3, 12), AvailabilityRules(buffer_days=2)) == date(2027, 3, 14)
    assert claimed_until(date(2027, 3, 12), AvailabilityRules()) == date(2027, 3, 12)


def test_a_stay_across_a_daylight_saving_change_counts_nights_and_notice_right() -> None:
    # Lisbon moves from UTC+0 to UTC+1 in the night of 27-28 March 2027.
    assert failed(AvailabilityRules(min_stay_nights=2), date(2027, 3, 27), 2) == []
    start = stay_start(date(2027, 3, 28), AvailabilityRules(), LISBON)
    assert start.utcoffset() == timedelta(hours=1)
    # 15:00 local on the 27th (UTC+0) to 15:00 local on the 28th (UTC+1) is 23 real hours.
    now = datetime(2027, 3, 27, 15, 0, tzinfo=UTC)
    assert failed(AvailabilityRules(min_notice_hours=24), date(2027, 3, 28), 1, now=now) == [
        "MinimumNoticeNotMet"
    ]
    assert failed(AvailabilityRules(min_notice_hours=23), date(2027, 3, 28), 1, now=now) == []


def test_every_failed_rule_is_reported_at_once() -> None:
    rules = AvailabilityRules(min_stay_nights=3, max_party=2, check_in_weekdays=(5,))
    assert sorted(failed(rules, date(2027, 3, 10), 1, party=3)) == [
        "ChangeoverDayNotAllowed",
        "MinimumStayNotMet",
        "PartyTooLarge",
    ]


@pytest.mark.parametrize(
    "bad",
    [
        {"min_stay_nights": 0},
        {"min_stay_nights": 5, "max_stay_nights": 3},
        {"check_in_weekdays": ()},
        {"check_out_weekdays": (7,)},
        {"min_party": 0},
        {"min_party": 3, "max_party": 2},
        {"buffer_days": -1},
        {"booking_horizon_days": 0},
        {"min_notice_hours": -1},
    ],
)
def test_contradictory_rules_are_refused(bad: dict) -> None:
    with pytest.raises(InvalidRules):
        AvailabilityRules(**bad)


def test_rules_round_trip_through_json() -> None:
    rules = AvailabilityRules(
        min_stay_nights=2, check_in_weekdays=(5, 6), check_in_time=time(16, 0)
    )
    assert AvailabilityRules.from_json(rules.to_json()) == rules


def test_blackouts_block_the_nights_they_cover_and_nothing_else() -> None:
    from inventory.domain.rules import Blackout

    closed = Blackout("b", "maintenance", "roof", date(2027, 3, 12), date(2027, 3, 14))

    def with_blackout(check_in: date, nights: int) -> list[str]:
        return [
            v.rule
            for v in check_stay(
                AvailabilityRules(),
                check_in=check_in,
                check_out=check_in + timedelta(days=nights),
                party_size=2,
                now=NOW,
                tz=LISBON,
                blackouts=(closed,),
            )
        ]

    assert with_blackout(date(2027, 3, 10), 2) == []  # leaves on the 12th: no night inside
    assert with_blackout(date(2027, 3, 14), 2) == []  # arrives when it ends
    assert with_blackout(date(2027, 3, 11), 2) == ["BlackedOut"]
    assert with_blackout(date(2027, 3, 13), 3) == ["BlackedOut"]
