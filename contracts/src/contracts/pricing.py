"""Pricing commands and replies."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from contracts.base import DecimalStr, Money, Reply
from contracts.common import Party, SagaCommand, StayPeriod, TimeWindow


class PriceBooking(SagaCommand):
    """Price a stay (``period``) or a timeslot booking (``window``) of a resource or group.
    ``venue_id``: use the venue's plan when the resource has none of its own.

    Added within v1 (optional): ``quote_key`` - what makes the command idempotent (default: the
    booking id); a booking priced again (a modification) names its new quote differently.
    """

    type: ClassVar[str] = "pricing.PriceBooking"
    resource_id: str
    period: StayPeriod | None = None
    window: TimeWindow | None = None
    party: Party
    venue_id: str | None = None
    quote_key: str | None = Field(default=None, min_length=1, max_length=200)

    @property
    def key(self) -> str:
        return self.quote_key or self.booking_id

    @model_validator(mode="after")
    def _one_of(self) -> PriceBooking:
        if (self.period is None) == (self.window is None):
            raise ValueError("give either period (a stay) or window (a timeslot)")
        return self


class QuoteLine(BaseModel):
    """One line of a quote. ``amount`` is signed (a discount is negative); a ``tax_included``
    line shows tax contained in the prices and is not added to the total."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    kind: str = Field(description="charge | discount | fee | tax | tax_included")
    description: str
    quantity: DecimalStr
    unit_price: DecimalStr
    amount: DecimalStr


class RefundTier(BaseModel):
    """Cancelling at least ``hours_before`` the start refunds ``refund_percent``."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    hours_before: int = Field(ge=0)
    refund_percent: DecimalStr


class BookingPriced(Reply):
    """The quote of a booking. Everything after ``total`` was added within v1 (optional): the
    line items and the cancellation policy in force, which the booking keeps as its snapshot."""

    type: ClassVar[str] = "pricing.BookingPriced"
    quote_id: str
    nights: int
    nightly_rate: Money | None = None
    total: Money
    subtotal: Money | None = None
    taxes: Money | None = None
    lines: tuple[QuoteLine, ...] = ()
    cancellation_policy: tuple[RefundTier, ...] = ()
    valid_until: datetime | None = None


class BookingPricingFailed(Reply):
    type: ClassVar[str] = "pricing.BookingPricingFailed"
    reason: str
    detail: str = ""


class QuoteRefund(SagaCommand):
    """How much of ``paid`` cancelling at ``cancelled_at`` refunds under the cancellation policy
    snapshot of quote ``quote_id`` (never the plan's current policy). ``starts_at`` is when the
    booking begins (a stay's check-in time, a slot's start)."""

    type: ClassVar[str] = "pricing.QuoteRefund"
    quote_id: str
    paid: Money
    starts_at: AwareDatetime
    cancelled_at: AwareDatetime


class RefundQuoted(Reply):
    type: ClassVar[str] = "pricing.RefundQuoted"
    quote_id: str
    refund: Money
    refund_percent: DecimalStr
    hours_before_start: DecimalStr


class RefundQuoteFailed(Reply):
    type: ClassVar[str] = "pricing.RefundQuoteFailed"
    quote_id: str
    reason: str
