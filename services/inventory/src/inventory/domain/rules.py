"""Availability rules of a resource, and the check of one stay against them. Pure.

Every rule that fails is reported, by name (``MinimumStayNotMet``) and machine code
(``minimum_stay_not_met``), so a client can explain all of them at once.

Time: a stay starts at ``check_in_time`` on the check-in date *in the resource's timezone*;
notice and horizon are measured from that instant, so they stay right across daylight-saving
changes. Nights are counted on dates, never on hours.

Buffers: ``buffer_days`` nights after each stay are claimed with it (turnover). Two stays of one
unit therefore always keep at least ``buffer_days`` free nights between them, whichever was
booked first: a new stay may neither start inside an existing stay's buffer nor end with its own
buffer reaching an existing stay.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class InvalidRules(ValueError):
    """Rules that contradict themselves (minimum above maximum, no allowed weekday, ...)."""


@dataclass(frozen=True)
class AvailabilityRules:
    min_stay_nights: int = 1
    max_stay_nights: int | None = None
    buffer_days: int = 0
    buffer_minutes: int = 0  # around each slot of an exclusive unit (a room, a staff member)
    check_in_weekdays: tuple[int, ...] | None = None  # 0 = Monday; None = any day
    check_out_weekdays: tuple[int, ...] | None = None
    booking_horizon_days: int | None = None
    min_notice_hours: int = 0
    min_party: int = 1
    max_party: int | None = None
    check_in_time: time = field(default=time(15, 0))

    def __post_init__(self) -> None:
        problems = []
        if self.min_stay_nights < 1:
            problems.append("min_stay_nights must be at least 1")
        if self.max_stay_nights is not None and self.max_stay_nights < self.min_stay_nights:
            problems.append("max_stay_nights must not be below min_stay_nights")
        if self.buffer_days < 0 or self.buffer_days > 30:
            problems.append("buffer_days must be between 0 and 30")
        if self.buffer_minutes < 0 or self.buffer_minutes > 720:
            problems.append("buffer_minutes must be between 0 and 720")
        for name in ("check_in_weekdays", "check_out_weekdays"):
            days = getattr(self, name)
            if days is not None and (not days or any(d not in range(7) for d in days)):
                problems.append(f"{name} must name at least one weekday, 0 (Monday) to 6")
        if self.booking_horizon_days is not None and self.booking_horizon_days < 1:
            problems.append("booking_horizon_days must be at least 1")
        if self.min_notice_hours < 0:
            problems.append("min_notice_hours must not be negative")
        if self.min_party < 1:
            problems.append("min_party must be at least 1")
        if self.max_party is not None and self.max_party < self.min_party:
            problems.append("max_party must not be below min_party")
        if problems:
            raise InvalidRules("; ".join(problems))

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["check_in_time"] = self.check_in_time.isoformat(timespec="minutes")
        for name in ("check_in_weekdays", "check_out_weekdays"):
            if doc[name] is not None:
                doc[name] = sorted(doc[name])
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any] | None) -> AvailabilityRules:
        doc = dict(doc or {})
        if "check_in_time" in doc and isinstance(doc["check_in_time"], str):
            doc["check_in_time"] = time.fromisoformat(doc["check_in_time"])
        for name in ("check_in_weekdays", "check_out_weekdays"):
            if doc.get(name) is not None:
                doc[name] = tuple(sorted(set(doc[name])))
        return cls(**doc)


@dataclass(frozen=True)
class Blackout:
    """Dates a resource cannot be booked: [starts_on, ends_on)."""

    id: str
    kind: str  # holiday | maintenance | weather | owner_use | custom
    reason: str
    starts_on: date
    ends_on: date

    def overlaps(self, start: date, end: date) -> bool:
        return self.starts_on < end and start < self.ends_on


@dataclass(frozen=True)
class RuleViolation:
    rule: str  # the rule's name, e.g. MinimumStayNotMet
    code: str  # machine code, e.g. minimum_stay_not_met
    detail: str


def _violation(rule: str, detail: str) -> RuleViolation:
    code = "".join(f"_{c.lower()}" if c.isupper() else c for c in rule).lstrip("_")
    return RuleViolation(rule, code, detail)


def stay_start(check_in: date, rules: AvailabilityRules, tz: str) -> datetime:
    """The instant a stay begins: check-in time on the check-in date, in the resource's zone."""
    return datetime.combine(check_in, rules.check_in_time, tzinfo=ZoneInfo(tz))


def claimed_until(check_out: date, rules: AvailabilityRules) -> date:
    """The exclusive end of the nights a stay claims: its nights plus the turnover buffer."""
    return check_out + timedelta(days=rules.buffer_days)


def check_stay(
    rules: AvailabilityRules,
    *,
    check_in: date,
    check_out: date,
    party_size: int,
    now: datetime,
    tz: str,
    blackouts: tuple[Blackout, ...] = (),
) -> list[RuleViolation]:
    """Every rule this stay breaks (empty when it may be booked, capacity permitting).

    A blackout blocks the nights of the stay; the turnover buffer may fall on one.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    out: list[RuleViolation] = []
    nights = (check_out - check_in).days
    if nights < 1:
        return [_violation("InvalidPeriod", "check_out must be after check_in")]
    if nights < rules.min_stay_nights:
        out.append(
            _violation("MinimumStayNotMet", f"{nights} nights, at least {rules.min_stay_nights}")
        )
    if rules.max_stay_nights is not None and nights > rules.max_stay_nights:
        out.append(
            _violation("MaximumStayExceeded", f"{nights} nights, at most {rules.max_stay_nights}")
        )
    if rules.check_in_weekdays is not None and check_in.weekday() not in rules.check_in_weekdays:
        allowed = ", ".join(WEEKDAYS[d] for d in rules.check_in_weekdays)
        out.append(
            _violation(
                "ChangeoverDayNotAllowed",
                f"check-in on {WEEKDAYS[check_in.weekday()]}; allowed: {allowed}",
            )
        )
    if rules.check_out_weekdays is not None and check_out.weekday() not in rules.check_out_weekdays:
        allowed = ", ".join(WEEKDAYS[d] for d in rules.check_out_weekdays)
        out.append(
            _violation(
                "ChangeoverDayNotAllowed",
                f"check-out on {WEEKDAYS[check_out.weekday()]}; allowed: {allowed}",
            )
        )
    out += _when_and_who(
        rules,
        start=stay_start(check_in, rules, tz),
        first_day=check_in,
        last_day=check_out,
        party_size=party_size,
        now=now,
        tz=tz,
        blackouts=blackouts,
    )
    return out


def check_slot(
    rules: AvailabilityRules,
    *,
    starts_at: datetime,
    party_size: int,
    now: datetime,
    tz: str,
    blackouts: tuple[Blackout, ...] = (),
) -> list[RuleViolation]:
    """Every rule a claim on a slot starting at ``starts_at`` breaks (stay-length and changeover
    rules do not apply to slots)."""
    local_day = starts_at.astimezone(ZoneInfo(tz)).date()
    return _when_and_who(
        rules,
        start=starts_at,
        first_day=local_day,
        last_day=local_day + timedelta(days=1),
        party_size=party_size,
        now=now,
        tz=tz,
        blackouts=blackouts,
    )


def _when_and_who(
    rules: AvailabilityRules,
    *,
    start: datetime,
    first_day: date,
    last_day: date,
    party_size: int,
    now: datetime,
    tz: str,
    blackouts: tuple[Blackout, ...],
) -> list[RuleViolation]:
    """The rules stays and slots share: start in the future with the notice, within the horizon,
    no blackout on [first_day, last_day), the party within its limits."""
    out: list[RuleViolation] = []
    if start <= now:
        out.append(_violation("StartInPast", f"it starts at {start.isoformat()}"))
    elif start - now < timedelta(hours=rules.min_notice_hours):
        out.append(
            _violation(
                "MinimumNoticeNotMet",
                f"at least {rules.min_notice_hours} hours before {start.isoformat()}",
            )
        )
    if rules.booking_horizon_days is not None:
        today = now.astimezone(ZoneInfo(tz)).date()
        if (first_day - today).days > rules.booking_horizon_days:
            out.append(
                _violation(
                    "BeyondBookingHorizon", f"at most {rules.booking_horizon_days} days ahead"
                )
            )
    for blackout in blackouts:
        if blackout.overlaps(first_day, last_day):
            out.append(
                _violation(
                    "BlackedOut",
                    f"{blackout.kind} {blackout.starts_on} to {blackout.ends_on}: {blackout.reason}",
                )
            )
    if party_size < rules.min_party:
        out.append(_violation("PartyTooSmall", f"{party_size} guests, at least {rules.min_party}"))
    if rules.max_party is not None and party_size > rules.max_party:
        out.append(_violation("PartyTooLarge", f"{party_size} guests, at most {rules.max_party}"))
    return out
