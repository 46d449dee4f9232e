"""Request and response models of the booking API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from booking.domain.booking import stay_error
from contracts.base import Money
from service_kit.fields import Email, IsoDate, Phone

# A BCP 47 language tag as mail clients send them: 'en', 'pt-PT', 'zh-Hant-TW'.
LOCALE = r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$"
NOTE = Field(default=None, max_length=2000)
PAYMENT_METHOD = Field(
    min_length=3,
    max_length=64,
    pattern=r"^(pm_[A-Za-z0-9_]+|bank_transfer)$",
    description="A card (``pm_card_visa``, ...) or ``bank_transfer`` (awaits payment).",
)


def check_time(slot_id: str | None, check_in: date | None, check_out: date | None) -> None:
    """A slot, or a stay's valid dates: never both (ValueError, a 422 for the API)."""
    if slot_id is not None:
        if check_in is not None or check_out is not None:
            raise ValueError("a timeslot names slot_id, not check_in/check_out")
        return
    if check_in is None or check_out is None:
        raise ValueError("a stay needs check_in and check_out (or a slot_id)")
    error = stay_error(check_in, check_out)
    if error:
        raise ValueError(error)


class GuestIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Staff booking for a guest: the guest's id. A guest's own id comes from the "
        "token and cannot be set.",
    )
    name: str = Field(min_length=1, max_length=200)
    email: Email
    phone: Phone = Field(description="International form (+<country><number>), kept as E.164.")
    locale: str | None = Field(
        default=None,
        max_length=35,
        pattern=LOCALE,
        description="The guest's language for emails (BCP 47, e.g. 'pt-PT').",
    )


class PartyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    adults: int = Field(ge=1, le=100)
    children: int = Field(default=0, ge=0, le=100)
    infants: int = Field(default=0, ge=0, le=100)


class BookingCreate(BaseModel):
    """A stay (``check_in``/``check_out``) or a timeslot (``slot_id``) of a resource or group."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    resource_id: str = Field(min_length=1, max_length=64)
    check_in: IsoDate | None = None
    check_out: IsoDate | None = None
    slot_id: str | None = Field(default=None, min_length=1, max_length=64)
    party: PartyIn
    guest: GuestIn
    payment_method: str = PAYMENT_METHOD
    hold_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="A hold placed with inventory for this resource and time: it becomes the "
        "booking's claim (checkout: hold, then book).",
    )
    special_requests: str | None = NOTE
    dietary_notes: str | None = NOTE
    accessibility_notes: str | None = NOTE

    @model_validator(mode="after")
    def _time(self) -> BookingCreate:
        check_time(self.slot_id, self.check_in, self.check_out)
        return self


class GuestPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str | None = Field(default=None, min_length=1, max_length=200)
    email: Email | None = None
    phone: Phone | None = None
    locale: str | None = Field(default=None, max_length=35, pattern=LOCALE)


class ModifyIn(BaseModel):
    """A change of dates (a stay), slot (a timeslot booking) or party. What is not given stays
    as it is. The new capacity is reserved first, the price difference settled, then the old
    capacity released; the booking stays ``confirmed`` throughout."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    check_in: IsoDate | None = None
    check_out: IsoDate | None = None
    slot_id: str | None = Field(default=None, min_length=1, max_length=64)
    party: PartyIn | None = None

    @model_validator(mode="after")
    def _something(self) -> ModifyIn:
        if (self.check_in, self.check_out, self.slot_id, self.party) == (None, None, None, None):
            raise ValueError("give new dates, a new slot or a new party")
        if self.slot_id is not None and (self.check_in is not None or self.check_out is not None):
            raise ValueError("a timeslot booking moves to another slot_id, not to dates")
        return self


class ModificationPublic(BaseModel):
    status: str = Field(description="in_progress | awaiting_payment | applied | failed")
    requested: dict[str, Any] = Field(description="the change asked for")
    requested_at: datetime
    requested_by: str
    reason: str | None = Field(default=None, description="why it failed (machine-readable)")
    detail: str | None = None
    next_action: str | None = Field(
        default=None, description="what the guest must do to pay the new price"
    )
    pay_by: datetime | None = None


class BookingPatch(BaseModel):
    """Details that change nothing in inventory, pricing or payment. Dates, slot and party
    change through ``POST /bookings/{id}/modify``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    guest: GuestPatch | None = None
    special_requests: str | None = NOTE
    dietary_notes: str | None = NOTE
    accessibility_notes: str | None = NOTE


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str = Field(default="guest_request", min_length=1, max_length=500)


class StatusActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str | None = Field(default=None, max_length=500)


class BookingPublic(BaseModel):
    id: str
    reference: str
    status: str
    version: int
    guest_id: str
    venue_id: str | None
    resource_id: str
    slot_id: str | None
    check_in: date
    check_out: date
    starts_at: datetime | None
    ends_at: datetime | None
    timezone: str | None
    party: dict[str, int]
    guest: dict[str, Any]
    special_requests: str | None
    dietary_notes: str | None
    accessibility_notes: str | None
    payment_method: str
    hold_id: str | None
    total: Money | None
    price: dict[str, Any] | None = Field(description="the quote's lines, subtotal and taxes")
    policy: list[dict[str, Any]] | None = Field(description="the cancellation policy snapshot")
    paid: Money | None
    refunded: Money | None
    reason: str | None
    reason_detail: str | None
    quote_id: str | None
    reservation_id: str | None
    unit_id: str | None
    payment_id: str | None
    payment_deadline: datetime | None
    next_action: str | None
    payment_verified_at: datetime | None
    payment_verified_by: str | None
    cancel_reason: str | None
    cancelled_by: str | None
    created_at: datetime
    updated_at: datetime
    awaiting_payment_at: datetime | None
    confirmed_at: datetime | None
    checked_in_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    refunded_at: datetime | None
    no_show_at: datetime | None
    expired_at: datetime | None
    rejected_at: datetime | None
    modification: ModificationPublic | None = None


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
    version: int | None


class SagaPublic(BaseModel):
    id: str
    seq: int
    saga_type: str
    status: str
    current_step: str
    deadline: datetime | None
    failure_reason: str | None = None


class BookingTimeline(BaseModel):
    booking_id: str
    status: str
    saga_status: str | None
    sagas: list[SagaPublic]
    history: list[StatusChange]
    messages: list[TimelineEntry]


class WaitlistJoin(BaseModel):
    """Wait for a full resource (dates) or slot. ``priority`` (higher first) is staff's to set;
    entries of equal priority are served in the order they joined."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    resource_id: str = Field(min_length=1, max_length=64)
    check_in: IsoDate | None = None
    check_out: IsoDate | None = None
    slot_id: str | None = Field(default=None, min_length=1, max_length=64)
    party: PartyIn
    priority: int = Field(default=0, ge=0, le=100)
    contact: GuestIn

    @model_validator(mode="after")
    def _time(self) -> WaitlistJoin:
        check_time(self.slot_id, self.check_in, self.check_out)
        return self


class WaitlistAccept(BaseModel):
    """Book the offer: the booking takes the offer's hold and runs the create saga."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    payment_method: str = PAYMENT_METHOD
    special_requests: str | None = NOTE
    dietary_notes: str | None = NOTE
    accessibility_notes: str | None = NOTE


class WaitlistEntryPublic(BaseModel):
    id: str
    status: str = Field(description="waiting | offered | accepted | expired | cancelled")
    guest_id: str
    resource_id: str
    slot_id: str | None
    check_in: date
    check_out: date
    party: dict[str, int]
    priority: int
    contact: dict[str, Any]
    hold_id: str | None = Field(description="the capacity held for an offer")
    offer_expires_at: datetime | None
    booking_id: str | None = Field(description="the booking an accepted offer became")
    created_at: datetime
    updated_at: datetime
