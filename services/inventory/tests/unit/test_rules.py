from __future__ import annotations

from datetime import date

import pytest

from inventory.domain.resources import (
    BookingMode,
    InsufficientCapacity,
    ResourceInactive,
    ResourceNotFound,
    ResourceView,
    UnknownTimezone,
    ensure_bookable,
    nights,
    validate_timezone,
)


def a_resource(**overrides) -> ResourceView:  # type: ignore[no-untyped-def]
    return ResourceView(
        **{
            "id": "r",
            "active": True,
            "booking_mode": BookingMode.NIGHTLY,
            "capacity": 2,
            **overrides,
        }
    )


def test_a_stay_occupies_check_in_to_the_night_before_check_out() -> None:
    assert nights(date(2027, 3, 27), date(2027, 3, 29)) == [date(2027, 3, 27), date(2027, 3, 28)]


def test_inactive_and_missing_resources_cannot_be_booked() -> None:
    with pytest.raises(ResourceNotFound):
        ensure_bookable(None, "r", 1)
    with pytest.raises(ResourceInactive):
        ensure_bookable(a_resource(active=False), "r", 1)


def test_a_party_larger_than_the_resource_is_refused() -> None:
    with pytest.raises(InsufficientCapacity):
        ensure_bookable(a_resource(capacity=2), "r", 3)


def test_timezones_are_iana_names() -> None:
    assert validate_timezone("Europe/Lisbon") == "Europe/Lisbon"
    with pytest.raises(UnknownTimezone):
        validate_timezone("Mars/Olympus")
