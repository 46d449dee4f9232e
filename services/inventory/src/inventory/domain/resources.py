"""Resources and the rules that a claim on them must satisfy. Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from inventory.domain.rules import AvailabilityRules, Blackout, RuleViolation, check_stay


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


class SlotNotFound(InventoryRuleBroken):
    code = "slot_not_found"


class SlotCancelled(InventoryRuleBroken):
    code = "slot_cancelled"


class HoldNotUsable(InventoryRuleBroken):
    """A booking named a hold that is not the caller's, or is for another resource or time."""

    code = "hold_not_usable"


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


class RulesBroken(InventoryRuleBroken):
    """The stay breaks availability rules; ``code`` is the first rule's code, all are listed."""

    def __init__(self, violations: list[RuleViolation]) -> None:
        super().__init__("; ".join(f"{v.rule}: {v.detail}" for v in violations))
        self.violations = violations
        self.code = violations[0].code


@dataclass(frozen=True)
class ResourceView:
    id: str
    active: bool
    booking_mode: BookingMode
    capacity: int
    timezone: str = "UTC"
    rules: AvailabilityRules = field(default_factory=AvailabilityRules)
    tenant_id: str = "default"
    venue_id: str | None = None


def nights(check_in: date, check_out: date) -> list[date]:
    """The nights a stay occupies: check-in inclusive, check-out exclusive."""
    return [check_in + timedelta(days=i) for i in range((check_out - check_in).days)]


def ensure_active(resource: ResourceView | None, resource_id: str) -> ResourceView:
    """The resource exists and may be booked at all (inactive resources and staff may not)."""
    if resource is None:
        raise ResourceNotFound(f"resource {resource_id} does not exist")
    if not resource.active:
        raise ResourceInactive(f"resource {resource_id} is inactive")
    return resource


def ensure_bookable(
    resource: ResourceView | None,
    resource_id: str,
    quantity: int,
    *,
    stay: tuple[date, date] | None = None,
    party_size: int | None = None,
    now: datetime | None = None,
    blackouts: tuple[Blackout, ...] = (),
) -> ResourceView:
    """The rules a reservation must pass before it touches the ledger.

    With ``stay`` and ``now``, the resource's availability rules are checked too (party rules
    only when the party size is known).
    """
    resource = ensure_active(resource, resource_id)
    if resource.booking_mode is not BookingMode.NIGHTLY:
        raise ModeNotSupported(f"resource {resource_id} is booked by {resource.booking_mode}")
    if quantity > resource.capacity:
        raise InsufficientCapacity(f"asked for {quantity}, the resource has {resource.capacity}")
    if stay is not None and now is not None:
        violations = check_stay(
            resource.rules,
            check_in=stay[0],
            check_out=stay[1],
            party_size=party_size if party_size is not None else resource.rules.min_party,
            now=now,
            tz=resource.timezone,
            blackouts=blackouts,
        )
        if violations:
            raise RulesBroken(violations)
    return resource
