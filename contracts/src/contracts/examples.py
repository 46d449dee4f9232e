"""One example per message type, valid against its model: for the AsyncAPI document, the
committed compatibility baseline and anyone writing a consumer.

Values come from one coherent story (booking ``BK-20270110-7Q2F`` of a two-night stay at
"Casa do Mar" for 450.00 EUR, cancelled and refunded); fields no story value fits get a value
made from their type. Every example is validated by its model before it is returned.
"""

from __future__ import annotations

import types
import typing
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, get_args, get_origin

from pydantic import AwareDatetime

from contracts.base import ContractMessage, Money
from contracts.common import Contact, Party, StayPeriod, TimeWindow
from contracts.registry import REGISTRY

BOOKING_ID = "6f1c2a9e-3b7d-4c21-9e58-2d4a7b8c9f01"
WHEN = datetime(2026, 12, 1, 10, 15, 30, tzinfo=UTC)
STAY = StayPeriod(check_in=date(2027, 1, 10), check_out=date(2027, 1, 12))
TOTAL = Money(amount=Decimal("450.00"), currency="EUR")

# Field values by name, used for any message that has the field.
BY_NAME: dict[str, Any] = {
    "booking_id": BOOKING_ID,
    "booking_version": 2,
    "tenant_id": "acme-stays",
    "reference": "BK-20270110-7Q2F",
    "resource_id": "0d5e8f7a-1c2b-4a3d-9e8f-7a6b5c4d3e2f",
    "resource_name": "Casa do Mar",
    "timezone": "Europe/Lisbon",
    "venue_id": "venue-lisbon-1",
    "guest_id": "guest-ana",
    "reservation_id": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
    "claim_id": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
    "payment_id": "3c2b1a09-8f7e-4d6c-9b5a-4f3e2d1c0b9a",
    "quote_id": "5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a",
    "hold_id": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
    "entry_id": "1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d",
    "step": "reserve_capacity#1",
    "period": STAY,
    "party": Party(adults=2, children=1),
    "party_size": 3,
    "quantity": 1,
    "total": TOTAL,
    "amount": TOTAL,
    "refund": TOTAL,
    "occurred_at": WHEN,
    "expires_at": datetime(2026, 12, 2, 10, 15, 30, tzinfo=UTC),
    "check_in": STAY.check_in,
    "claimed_until": STAY.check_out,
    "contact": Contact(name="Ana Sousa", email="ana@example.com", locale="pt-PT"),
    "contact_email": "ana@example.com",
    "contact_name": "Ana Sousa",
    "locale": "pt-PT",
    "payment_method": "pm_card_visa",
    "currency": "EUR",
    "reason": "guest_request",
    "why": "cancelled",
    "previous_status": "confirmed",
    "actor": "guest-ana",
    "changed": ("period", "total"),
}
# The status each booking event arrives at.
STATUS = {
    "booking.created": "pending",
    "booking.updated": "confirmed",
    "booking.status_changed": "awaiting_payment",
    "booking.rejected": "rejected",
    "booking.confirmed": "confirmed",
    "booking.cancelled": "cancelled",
    "booking.refunded": "refunded",
    "booking.expired": "expired",
    "booking.checked_in": "checked_in",
    "booking.completed": "completed",
    "booking.no_show": "no_show",
}
PREVIOUS = {"confirmed": "pending", "awaiting_payment": "pending", "rejected": "pending"}


def _by_type(annotation: Any, name: str) -> Any:
    origin = get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in get_args(annotation) if a is not type(None)]
        return _by_type(options[0], name)
    if origin is typing.Literal:
        return get_args(annotation)[0]
    if origin is tuple:
        return (_by_type(get_args(annotation)[0], name),)
    if annotation is str:
        return f"{name.replace('_', '-')}-1"
    if annotation is bool:
        return False
    if annotation is int:
        return 1
    if annotation is Decimal:
        return Decimal("450.00")
    if annotation in (datetime, AwareDatetime):
        return WHEN
    if annotation is date:
        return STAY.check_in
    if annotation is Money:
        return TOTAL
    if annotation is StayPeriod:
        return STAY
    if annotation is Party:
        return BY_NAME["party"]
    if annotation is TimeWindow:
        return TimeWindow(
            starts_at=datetime(2027, 1, 10, 9, tzinfo=UTC),
            ends_at=datetime(2027, 1, 10, 10, tzinfo=UTC),
            timezone="Europe/Lisbon",
        )
    raise TypeError(f"no example value for {name}: {annotation}")


def example(model: type[ContractMessage]) -> dict[str, Any]:
    """The example of ``model``, as JSON data."""
    values: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        if name in BY_NAME:
            values[name] = BY_NAME[name]
        elif field.is_required():
            values[name] = _by_type(field.annotation, name)
    status = STATUS.get(model.type)
    if status is not None:
        values["status"] = status
        if "previous_status" in model.model_fields:
            values["previous_status"] = PREVIOUS.get(status, "confirmed")
        if status == "pending":
            values["booking_version"] = 1
    return model.model_validate(values).model_dump(mode="json", exclude_none=True)


def all_examples() -> dict[str, dict[str, Any]]:
    """Every registered type's example, by CloudEvents type."""
    return {ce_type: example(model) for ce_type, model in sorted(REGISTRY.items())}
