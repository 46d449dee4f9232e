"""Schedules: recurrence, working hours split into slots, and daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from inventory.domain.schedules import InvalidSchedule, Recurrence, Schedule, generate

LISBON = "Europe/Lisbon"


def hours(**kw) -> Schedule:  # type: ignore[no-untyped-def]
    base = dict(
        recurrence=Recurrence.DAILY,
        valid_from=date(2027, 3, 1),
        capacity=10,
        work_start=time(9),
        work_end=time(17),
        slot_minutes=30,
    )
    return Schedule(**{**base, **kw})


def test_nine_to_five_in_half_hours_is_sixteen_slots_a_day() -> None:
    slots = generate(hours(), date(2027, 3, 1), date(2027, 3, 4), LISBON)
    assert len(slots) == 16 * 3
    first, last = slots[0], slots[15]
    assert first.starts_at == datetime(2027, 3, 1, 9, 0, tzinfo=UTC)  # Lisbon is UTC+0 in March
    assert last.ends_at == datetime(2027, 3, 1, 17, 0, tzinfo=UTC)


def test_slots_keep_their_local_time_across_a_daylight_saving_change() -> None:
    slots = generate(hours(), date(2027, 3, 27), date(2027, 3, 29), LISBON)
    assert slots[0].starts_at == datetime(2027, 3, 27, 9, 0, tzinfo=UTC)  # WET, UTC+0
    assert slots[16].starts_at == datetime(2027, 3, 28, 8, 0, tzinfo=UTC)  # WEST, UTC+1
    assert all(s.ends_at - s.starts_at == timedelta(minutes=30) for s in slots)


def test_a_local_time_skipped_by_the_clock_change_has_no_slot() -> None:
    night = Schedule(
        recurrence=Recurrence.DAILY,
        valid_from=date(2027, 3, 27),
        capacity=1,
        start_time=time(1, 30),
        duration_minutes=60,
    )
    days = [
        s.starts_at.date() for s in generate(night, date(2027, 3, 27), date(2027, 3, 30), LISBON)
    ]
    assert days == [date(2027, 3, 27), date(2027, 3, 29)]  # 01:30 did not exist on the 28th


def test_a_repeated_local_time_is_taken_once_at_its_first_occurrence() -> None:
    night = Schedule(
        recurrence=Recurrence.DAILY,
        valid_from=date(2027, 10, 31),
        capacity=1,
        start_time=time(1, 30),
        duration_minutes=60,
    )
    slots = generate(night, date(2027, 10, 31), date(2027, 11, 1), LISBON)
    assert [s.starts_at for s in slots] == [datetime(2027, 10, 31, 0, 30, tzinfo=UTC)]  # still WEST


def test_weekly_biweekly_monthly_and_rrule_recurrences() -> None:
    start, end = date(2027, 3, 1), date(2027, 5, 1)  # 2027-03-01 is a Monday

    def days(**kw) -> list[date]:  # type: ignore[no-untyped-def]
        return sorted({s.starts_at.date() for s in generate(hours(**kw), start, end, LISBON)})

    weekly = days(recurrence=Recurrence.WEEKLY, weekdays=(0, 2))
    assert weekly[:4] == [date(2027, 3, 1), date(2027, 3, 3), date(2027, 3, 8), date(2027, 3, 10)]
    biweekly = days(recurrence=Recurrence.BIWEEKLY, weekdays=(0,))
    assert biweekly[:3] == [date(2027, 3, 1), date(2027, 3, 15), date(2027, 3, 29)]
    monthly = days(recurrence=Recurrence.MONTHLY, valid_from=date(2027, 1, 31))
    assert monthly == [date(2027, 3, 31)]  # April has no 31st
    rrule = days(recurrence=Recurrence.RRULE, rrule="FREQ=WEEKLY;INTERVAL=2;BYDAY=FR")
    assert rrule[:2] == [date(2027, 3, 5), date(2027, 3, 19)]


def test_validity_and_blacked_out_days_bound_generation() -> None:
    bounded = hours(valid_from=date(2027, 3, 2), valid_until=date(2027, 3, 3))
    slots = generate(
        bounded,
        date(2027, 3, 1),
        date(2027, 3, 10),
        LISBON,
        skip_days=frozenset({date(2027, 3, 3)}),
    )
    assert {s.starts_at.date() for s in slots} == {date(2027, 3, 2)}


@pytest.mark.parametrize(
    "bad",
    [
        {"capacity": 0},
        {"work_end": time(8)},
        {"slot_minutes": 0},
        {"start_time": time(9), "duration_minutes": 60},  # both forms
        {"recurrence": Recurrence.WEEKLY},  # no weekdays
        {"recurrence": Recurrence.RRULE, "rrule": "FREQ=NEVER"},
        {"valid_until": date(2027, 2, 1)},
    ],
)
def test_schedules_that_cannot_work_are_refused(bad: dict) -> None:
    with pytest.raises(InvalidSchedule):
        hours(**bad)


def test_schedules_round_trip_through_json() -> None:
    s = hours(recurrence=Recurrence.WEEKLY, weekdays=(4, 1), valid_until=date(2027, 12, 31))
    assert Schedule.from_json(s.to_json()) == s
