"""An iCalendar (RFC 5545) event for a booking, attached to confirmation, modification and
cancellation emails. Pure.

One booking is one calendar event for its whole life: ``UID`` is the booking's, ``SEQUENCE``
its version, so a calendar that imported the confirmation updates the entry on a modification
(``METHOD:REQUEST`` again) and removes it on a cancellation (``METHOD:CANCEL``,
``STATUS:CANCELLED``). A stay is an all-day event from the check-in date to the check-out date
(``DTEND`` is exclusive, like a stay's last night); a timeslot has its start and end in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

PRODID = "-//booking-platform//notifier//EN"


@dataclass(frozen=True)
class CalendarEvent:
    uid: str
    sequence: int
    summary: str
    description: str
    start: date | datetime  # a date: all day; a datetime: aware
    end: date | datetime
    stamp: datetime
    organizer_email: str | None = None
    attendee_email: str | None = None
    attendee_name: str | None = None
    location: str | None = None
    cancelled: bool = False


def escape(value: str) -> str:
    """TEXT value escaping (RFC 5545 3.3.11)."""
    return (
        value.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\n")
    )


def fold(line: str) -> str:
    """Content lines are at most 75 octets; longer ones continue after CRLF and a space,
    never splitting a UTF-8 character."""
    out: list[str] = []
    current, size, limit = "", 0, 75
    for ch in line:
        width = len(ch.encode())
        if size + width > limit:
            out.append(current)
            current, size, limit = " ", 1, 75
        current += ch
        size += width
    out.append(current)
    return "\r\n".join(out)


def _when(name: str, value: date | datetime) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"{name} must be timezone-aware")
        return f"{name}:{value.astimezone(UTC):%Y%m%dT%H%M%SZ}"
    return f"{name};VALUE=DATE:{value:%Y%m%d}"


def _stamp(value: datetime) -> str:
    return f"{value.astimezone(UTC):%Y%m%dT%H%M%SZ}"


def render(event: CalendarEvent) -> str:
    if isinstance(event.start, datetime) != isinstance(event.end, datetime):
        raise ValueError("start and end are both dates or both datetimes")
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        f"METHOD:{'CANCEL' if event.cancelled else 'REQUEST'}",
        "BEGIN:VEVENT",
        f"UID:{escape(event.uid)}",
        f"SEQUENCE:{event.sequence}",
        f"DTSTAMP:{_stamp(event.stamp)}",
        _when("DTSTART", event.start),
        _when("DTEND", event.end),
        f"SUMMARY:{escape(event.summary)}",
        f"DESCRIPTION:{escape(event.description)}",
        f"STATUS:{'CANCELLED' if event.cancelled else 'CONFIRMED'}",
        "TRANSP:OPAQUE",
    ]
    if event.location:
        lines.append(f"LOCATION:{escape(event.location)}")
    if event.organizer_email:
        lines.append(f"ORGANIZER:mailto:{event.organizer_email}")
    if event.attendee_email:
        name = (event.attendee_name or "").replace('"', "'")
        lines.append(
            f'ATTENDEE;CN="{name}";ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED:mailto:{event.attendee_email}'
        )
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return "".join(fold(line) + "\r\n" for line in lines)
