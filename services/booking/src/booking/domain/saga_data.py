"""What a saga knows about its booking, accumulated as replies arrive. Stored as JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from contracts.base import Money
from contracts.common import Party, StayPeriod, TimeWindow

_DATES = {"check_in", "check_out"}
_DATETIMES = {"starts_at", "ends_at", "pay_by", "verified_at", "cancelled_at"}
_DECIMALS = {"total_amount", "refund_amount", "refunded_amount", "paid_amount", "net_paid_before"}


@dataclass(frozen=True)
class SagaData:
    booking_id: str
    resource_id: str
    check_in: date
    check_out: date
    party: dict[str, int]
    payment_method: str
    tenant_id: str | None = None
    venue_id: str | None = None
    # A timeslot booking: the slot and its time (the dates are then the slot's local day).
    slot_id: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    timezone: str | None = None
    # Checkout: a hold placed before booking becomes the booking's claim.
    hold_id: str | None = None
    holder: str | None = None
    hold_seconds: int | None = None
    pay_by: datetime | None = None
    # This saga's key for what it creates (claim, quote, payment): a booking's later sagas
    # name theirs ``<booking>#<seq>``; none means the booking id.
    claim_key: str | None = None
    # A modification: the claim and payment the booking had, and what it had paid net.
    old_reservation_id: str | None = None
    old_payment_id: str | None = None
    net_paid_before: Decimal | None = None
    # Learned from replies.
    reservation_id: str | None = None
    unit_id: str | None = None
    quote_id: str | None = None
    total_amount: Decimal | None = None
    currency: str | None = None
    price: dict[str, Any] | None = None  # lines, subtotal, taxes, valid_until
    policy: list[dict[str, Any]] | None = None  # the cancellation policy snapshot
    payment_id: str | None = None
    next_action: str | None = None
    verified_by: str | None = None
    verified_at: datetime | None = None
    paid_amount: Decimal | None = None  # what the guest paid (captured, every payment)
    cancelled_at: datetime | None = None
    refund_amount: Decimal | None = None  # what this saga is to give back
    refunded_amount: Decimal | None = None  # what was given back (every refund)

    @property
    def key(self) -> str:
        return self.claim_key or self.booking_id

    @property
    def period(self) -> StayPeriod:
        return StayPeriod(check_in=self.check_in, check_out=self.check_out)

    @property
    def window(self) -> TimeWindow | None:
        """A timeslot booking's time (a stay has dates: its period)."""
        if (
            self.slot_id is None
            or self.starts_at is None
            or self.ends_at is None
            or self.timezone is None
        ):
            return None
        return TimeWindow(starts_at=self.starts_at, ends_at=self.ends_at, timezone=self.timezone)

    @property
    def party_model(self) -> Party:
        return Party(**self.party)

    @property
    def total(self) -> Money:
        assert self.total_amount is not None and self.currency is not None
        return Money(amount=self.total_amount, currency=self.currency)

    @property
    def net_paid(self) -> Decimal:
        """What the guest has paid and not had back."""
        return (self.paid_amount or Decimal(0)) - (self.refunded_amount or Decimal(0))

    def money(self, amount: Decimal | None) -> Money:
        """An amount in the booking's currency (none: zero)."""
        assert self.currency is not None
        return Money.of(amount or Decimal(0), self.currency)

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        for name, value in doc.items():
            if isinstance(value, date | datetime | Decimal):
                doc[name] = value.isoformat() if not isinstance(value, Decimal) else str(value)
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> SagaData:
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {}
        for name, value in doc.items():
            if name not in known:
                continue
            if value is not None and name in _DATES:
                value = date.fromisoformat(value)
            elif value is not None and name in _DATETIMES:
                value = datetime.fromisoformat(value)
            elif value is not None and name in _DECIMALS:
                value = Decimal(value)
            values[name] = value
        return cls(**values)
