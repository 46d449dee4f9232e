"""Resources and the rules that a claim on them must satisfy. Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones


class BookingMode(StrEnum):
    NIGHTLY = "nightly"
    TIMESLOT = "timeslot"


class InventoryRuleBroken(Exception):
    """Base of the named rule violations; ``code`` is the machine-readable reason."""

    code = "inventory_rule_broken"


class UnknownTimezone(InventoryRuleBroken):
    code = "unknown_timezone"


class InsufficientCapacity(InventoryRuleBroken):
    code = "insufficient_capacity"


class ResourceNotFound(InventoryRuleBroken):
    code = "resource_not_found"


class ResourceInactive(InventoryRuleBroken):
    code = "resource_inactive"


class ModeNotSupported(InventoryRuleBroken):
    code = "booking_mode_not_supported"


def validate_timezone(name: str) -> str:
    """An IANA zone name (``Europe/Lisbon``); resources keep their own timezone."""
    if name not in available_timezones():
        raise UnknownTimezone(f"unknown timezone {name!r}")
    try:
        ZoneInfo(name)
    except ZoneInfoNotFoundError as exc:
        raise UnknownTimezone(f"unknown timezone {name!r}") from exc
    return name


@dataclass(frozen=True)
class ResourceView:
    id: str
    active: bool
    booking_mode: BookingMode
    capacity: int


def nights(check_in: date, check_out: date) -> list[date]:
    """The nights a stay occupies: check-in inclusive, check-out exclusive."""
    return [check_in + timedelta(days=i) for i in range((check_out - check_in).days)]


def ensure_bookable(resource: ResourceView | None, resource_id: str, quantity: int) -> ResourceView:
    """The rule a reservation must pass before it touches the ledger."""
    if resource is None:
        raise ResourceNotFound(f"resource {resource_id} does not exist")
    if not resource.active:
        raise ResourceInactive(f"resource {resource_id} is inactive")
    if resource.booking_mode is not BookingMode.NIGHTLY:
        raise ModeNotSupported(f"resource {resource_id} is booked by {resource.booking_mode}")
    if quantity > resource.capacity:
        raise InsufficientCapacity(f"asked for {quantity}, the resource has {resource.capacity}")
    return resource
