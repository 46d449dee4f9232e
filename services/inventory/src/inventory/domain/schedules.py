"""Recurring schedules and the slots they generate. Pure.

A schedule says on which days (daily; weekly on chosen weekdays; every two weeks; monthly on the
same date; or an RFC 5545 RRULE) and at which local times (one start time and a duration, or
working hours split into slots of a given length) a timeslot resource can be booked, with a
capacity per slot, between ``valid_from`` and ``valid_until``.

Time: slot times are wall-clock times in the resource's timezone. A local time that does not
exist (the hour skipped when clocks go forward) yields no slot; a time that happens twice (the hour
repeated when clocks go back) is taken at its first occurrence. A slot lasts its duration in real
time, so a slot that spans a change is still that many minutes long.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr


class InvalidSchedule(ValueError):
    """A schedule that cannot generate anything sensible."""


class Recurrence(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    BIWEEKLY = "biweekly"
    MONTHLY = "monthly"
    RRULE = "rrule"


@dataclass(frozen=True)
class Schedule:
    recurrence: Recurrence
    valid_from: date
    capacity: int
    valid_until: date | None = None  # inclusive
    weekdays: tuple[int, ...] | None = None  # weekly / biweekly, 0 = Monday
    rrule: str | None = None
    start_time: time | None = None  # one slot a day ...
    duration_minutes: int | None = None
    work_start: time | None = None  # ... or working hours split into slots
    work_end: time | None = None
    slot_minutes: int | None = None

    def __post_init__(self) -> None:
        if self.weekdays is not None:  # one canonical form: sorted, each day once
            object.__setattr__(self, "weekdays", tuple(sorted(set(self.weekdays))))
        problems = []
        if self.capacity < 1:
            problems.append("capacity must be at least 1")
        if self.valid_until is not None and self.valid_until < self.valid_from:
            problems.append("valid_until is before valid_from")
        if self.recurrence in (Recurrence.WEEKLY, Recurrence.BIWEEKLY) and (
            not self.weekdays or any(d not in range(7) for d in self.weekdays)
        ):
            problems.append("weekly schedules name weekdays, 0 (Monday) to 6")
        if self.recurrence is Recurrence.RRULE:
            if not self.rrule:
                problems.append("an rrule schedule needs the rule")
            else:
                try:
                    rrulestr(self.rrule, dtstart=datetime.combine(self.valid_from, time()))
                except (ValueError, TypeError) as exc:
                    problems.append(f"bad RRULE: {exc}")
        single = self.start_time is not None or self.duration_minutes is not None
        hours = any(x is not None for x in (self.work_start, self.work_end, self.slot_minutes))
        if single == hours:
            problems.append("give either start_time and duration_minutes, or working hours")
        elif single and (
            self.start_time is None
            or not self.duration_minutes
            or not 1 <= self.duration_minutes <= 24 * 60
        ):
            problems.append("a start time needs a duration of 1 to 1440 minutes")
        elif hours:
            if None in (self.work_start, self.work_end) or not self.slot_minutes:
                problems.append("working hours need work_start, work_end and slot_minutes")
            elif not (self.work_start < self.work_end):  # type: ignore[operator]
                problems.append("work_end must be after work_start")
            elif not 5 <= self.slot_minutes <= 24 * 60:
                problems.append("slot_minutes must be 5 to 1440")
        if problems:
            raise InvalidSchedule("; ".join(problems))

    def days(self, start: date, end: date) -> list[date]:
        """The days in [start, end) on which the schedule has slots."""
        first = max(start, self.valid_from)
        last = min(end, self.valid_until + timedelta(days=1)) if self.valid_until else end
        if first >= last:
            return []
        if self.recurrence is Recurrence.RRULE:
            assert self.rrule is not None
            rule = rrulestr(self.rrule, dtstart=datetime.combine(self.valid_from, time()))
            hits = rule.between(
                datetime.combine(first, time()), datetime.combine(last, time()), inc=True
            )
            return sorted({h.date() for h in hits if first <= h.date() < last})
        out = []
        day = first
        anchor = self.valid_from - timedelta(days=self.valid_from.weekday())  # its week's Monday
        while day < last:
            if self._on(day, anchor):
                out.append(day)
            day += timedelta(days=1)
        return out

    def _on(self, day: date, anchor: date) -> bool:
        if self.recurrence is Recurrence.DAILY:
            return True
        if self.recurrence is Recurrence.MONTHLY:
            return day.day == self.valid_from.day  # months without that date have none
        assert self.weekdays is not None
        if day.weekday() not in self.weekdays:
            return False
        return self.recurrence is Recurrence.WEEKLY or ((day - anchor).days // 7) % 2 == 0

    def local_starts(self) -> list[tuple[time, int]]:
        """(local start time, minutes) of each slot of a day."""
        if self.start_time is not None:
            assert self.duration_minutes is not None
            return [(self.start_time, self.duration_minutes)]
        assert self.work_start and self.work_end and self.slot_minutes
        out = []
        minutes = self.work_start.hour * 60 + self.work_start.minute
        end = self.work_end.hour * 60 + self.work_end.minute
        while minutes + self.slot_minutes <= end:
            out.append((time(minutes // 60, minutes % 60), self.slot_minutes))
            minutes += self.slot_minutes
        return out

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "recurrence": self.recurrence.value,
            "valid_from": self.valid_from.isoformat(),
            "valid_until": self.valid_until.isoformat() if self.valid_until else None,
            "capacity": self.capacity,
            "weekdays": sorted(self.weekdays) if self.weekdays is not None else None,
            "rrule": self.rrule,
            "duration_minutes": self.duration_minutes,
            "slot_minutes": self.slot_minutes,
        }
        for name in ("start_time", "work_start", "work_end"):
            value = getattr(self, name)
            doc[name] = value.isoformat(timespec="minutes") if value else None
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Schedule:
        d = dict(doc)
        d["recurrence"] = Recurrence(d["recurrence"])
        for name in ("valid_from", "valid_until"):
            if isinstance(d.get(name), str):
                d[name] = date.fromisoformat(d[name])
        for name in ("start_time", "work_start", "work_end"):
            if isinstance(d.get(name), str):
                d[name] = time.fromisoformat(d[name])
        if d.get("weekdays") is not None:
            d["weekdays"] = tuple(sorted(set(d["weekdays"])))
        return cls(**d)


@dataclass(frozen=True)
class SlotTime:
    starts_at: datetime  # UTC
    ends_at: datetime


def to_utc(day: date, local: time, tz: str) -> datetime | None:
    """The instant of a wall-clock time in ``tz``; None when that local time does not exist."""
    zone = ZoneInfo(tz)
    candidate = datetime.combine(day, local, tzinfo=zone).replace(fold=0)
    as_utc = candidate.astimezone(UTC)
    if as_utc.astimezone(zone).replace(tzinfo=None) != candidate.replace(tzinfo=None):
        return None  # skipped by a clock change
    return as_utc


def generate(
    schedule: Schedule, start: date, end: date, tz: str, skip_days: frozenset[date] = frozenset()
) -> list[SlotTime]:
    """Every slot the schedule has in [start, end), in the resource's timezone, skipping
    ``skip_days`` (blacked out)."""
    out = []
    for day in schedule.days(start, end):
        if day in skip_days:
            continue
        for local, minutes in schedule.local_starts():
            starts = to_utc(day, local, tz)
            if starts is not None:
                out.append(SlotTime(starts, starts + timedelta(minutes=minutes)))
    return out
