"""The calendar entry parses with an independent iCalendar library and follows RFC 5545."""

from __future__ import annotations

from datetime import UTC, date, datetime

import icalendar
import pytest

from notifier.domain import ical

STAMP = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def entry(**kw: object) -> ical.CalendarEvent:
    values: dict = {
        "uid": "b-1@booking-platform",
        "sequence": 3,
        "summary": "Casa; do Mar, T2",
        "description": "Reserva BK-1\nobrigado",
        "start": date(2027, 1, 10),
        "end": date(2027, 1, 12),
        "stamp": STAMP,
        "attendee_email": "ana@example.com",
        "attendee_name": 'Ana "A" Sousa',
    }
    return ical.CalendarEvent(**(values | kw))


def test_a_stay_is_an_all_day_event_that_round_trips() -> None:
    text = ical.render(entry())
    cal = icalendar.Calendar.from_ical(text)
    event = cal.walk("VEVENT")[0]
    assert str(cal["METHOD"]) == "REQUEST"
    assert event.decoded("DTSTART") == date(2027, 1, 10)
    assert event.decoded("DTEND") == date(2027, 1, 12)
    assert str(event["SUMMARY"]) == "Casa; do Mar, T2"
    assert str(event["DESCRIPTION"]) == "Reserva BK-1\nobrigado"
    assert int(event["SEQUENCE"]) == 3


def test_a_timeslot_is_in_utc_and_a_cancellation_cancels() -> None:
    start = datetime(2027, 3, 28, 0, 30, tzinfo=UTC)
    text = ical.render(entry(start=start, end=start.replace(hour=2), cancelled=True))
    cal = icalendar.Calendar.from_ical(text)
    event = cal.walk("VEVENT")[0]
    assert str(cal["METHOD"]) == "CANCEL" and str(event["STATUS"]) == "CANCELLED"
    assert event.decoded("DTSTART") == start
    assert "DTSTART:20270328T003000Z" in text


def test_lines_are_folded_at_75_octets_without_splitting_characters() -> None:
    text = ical.render(entry(description="çãõ" * 100))
    for line in text.split("\r\n"):
        assert len(line.encode()) <= 75
    event = icalendar.Calendar.from_ical(text).walk("VEVENT")[0]
    assert str(event["DESCRIPTION"]) == "çãõ" * 100


def test_naive_or_mixed_times_are_refused() -> None:
    with pytest.raises(ValueError):
        ical.render(entry(start=datetime(2027, 1, 1, 10), end=datetime(2027, 1, 1, 11)))
    with pytest.raises(ValueError):
        ical.render(entry(start=date(2027, 1, 1), end=STAMP))
