"""Pricing commands and replies."""

from __future__ import annotations

from typing import ClassVar

from contracts.base import Money, Reply
from contracts.common import Party, SagaCommand, StayPeriod


class PriceBooking(SagaCommand):
    type: ClassVar[str] = "pricing.PriceBooking"
    resource_id: str
    period: StayPeriod
    party: Party


class BookingPriced(Reply):
    type: ClassVar[str] = "pricing.BookingPriced"
    quote_id: str
    nights: int
    nightly_rate: Money
    total: Money


class BookingPricingFailed(Reply):
    type: ClassVar[str] = "pricing.BookingPricingFailed"
    reason: str
    detail: str = ""
