"""Request and response models of the booking API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts.base import Money

MAX_NIGHTS = 365


class GuestIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    email: str = Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    phone: str = Field(min_length=6, max_length=32, pattern=r"^\+?[0-9][0-9 ().-]{4,30}$")


class PartyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    adults: int = Field(ge=1, le=100)
    children: int = Field(default=0, ge=0, le=100)
    infants: int = Field(default=0, ge=0, le=100)


class BookingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    resource_id: str = Field(min_length=1, max_length=64)
    check_in: date
    check_out: date
    party: PartyIn
    guest: GuestIn
    payment_method: str = Field(min_length=3, max_length=64, pattern=r"^pm_[A-Za-z0-9_]+$")
    special_requests: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _period(self) -> BookingCreate:
        if self.check_out <= self.check_in:
            raise ValueError("check_out must be after check_in")
        if (self.check_out - self.check_in).days > MAX_NIGHTS:
            raise ValueError(f"a stay is at most {MAX_NIGHTS} nights")
        return self


class BookingPublic(BaseModel):
    id: str
    reference: str
    status: str
    version: int
    resource_id: str
    check_in: date
    check_out: date
    party: dict[str, int]
    guest: dict[str, Any]
    special_requests: str | None
    payment_method: str
    total: Money | None
    reason: str | None
    reason_detail: str | None
    quote_id: str | None
    reservation_id: str | None
    unit_id: str | None
    payment_id: str | None
    created_at: datetime
    updated_at: datetime
    confirmed_at: datetime | None
    rejected_at: datetime | None


class TimelineEntry(BaseModel):
    at: datetime
    kind: str
    message_type: str | None = None
    step: str | None = None
    detail: str | None = None


class StatusChange(BaseModel):
    at: datetime
    from_status: str | None
    to_status: str
    actor: str
    reason: str | None


class BookingTimeline(BaseModel):
    booking_id: str
    status: str
    saga_status: str | None
    history: list[StatusChange]
    messages: list[TimelineEntry]
