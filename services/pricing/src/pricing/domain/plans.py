"""Rate plans, cancellation policies and their validation. Pure.

A rate plan prices one resource (or resource group, or every resource of a venue) in one
currency. Its ``basis`` says what one unit of the base price buys:

* ``per_night`` - one night of a stay;
* ``per_hour`` - one hour of a timeslot booking, prorated by the minute (90 min = 1.5 h);
* ``per_slot`` - one timeslot, whatever its length;
* ``per_person`` - one person for one night (stays) or one slot (timeslots), weighted by the
  party category (by default adults 100 %, children 70 %, infants free).

Prices can differ on weekend days, and seasonal overrides replace them on a date range. Dates
are the resource's local dates: a night is the date it starts, a slot the local date it starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from itertools import pairwise
from typing import Any

from pricing.domain.money import PricingRuleBroken, minor_unit, quantize


class InvalidPlan(PricingRuleBroken):
    code = "invalid_rate_plan"


class Basis(StrEnum):
    PER_NIGHT = "per_night"
    PER_HOUR = "per_hour"
    PER_SLOT = "per_slot"
    PER_PERSON = "per_person"


def _amount(raw: Any, currency: str, what: str, *, allow_zero: bool = False) -> Decimal:
    try:
        value = Decimal(str(raw))
    except (InvalidOperation, TypeError):
        raise InvalidPlan(f"{what}: {raw!r} is not a decimal amount") from None
    if not value.is_finite() or value < 0 or (value == 0 and not allow_zero):
        raise InvalidPlan(f"{what} must be {'zero or ' if allow_zero else ''}positive")
    if quantize(value, currency) != value:
        raise InvalidPlan(f"{what}: {currency} has {minor_unit(currency)} as its minor unit")
    return value


def _percent(raw: Any, what: str, *, low: int = 0, high: int = 100) -> Decimal:
    try:
        value = Decimal(str(raw))
    except (InvalidOperation, TypeError):
        raise InvalidPlan(f"{what}: {raw!r} is not a number") from None
    if not value.is_finite() or not low <= value <= high:
        raise InvalidPlan(f"{what} must be between {low} and {high}")
    return value


@dataclass(frozen=True)
class Season:
    """Prices for local dates in [starts_on, ends_on)."""

    name: str
    starts_on: date
    ends_on: date
    price: Decimal
    weekend_price: Decimal | None = None


@dataclass(frozen=True)
class LengthDiscount:
    min_units: int  # nights for stays, hours or slots for timeslots
    percent: Decimal


@dataclass(frozen=True)
class Fee:
    name: str
    amount: Decimal
    per: str  # booking | night | person


@dataclass(frozen=True)
class Tax:
    name: str
    percent: Decimal
    inclusive: bool


@dataclass(frozen=True)
class PartyCategory:
    name: str  # adults | children | infants
    percent: Decimal
    ages: str


@dataclass(frozen=True)
class PolicyTier:
    hours_before: int
    refund_percent: Decimal


DEFAULT_TAXES = (Tax("VAT", Decimal(10), inclusive=False),)
DEFAULT_CATEGORIES = (
    PartyCategory("adults", Decimal(100), "13+"),
    PartyCategory("children", Decimal(70), "3-12"),
    PartyCategory("infants", Decimal(0), "0-2"),
)
DEFAULT_POLICY = (
    PolicyTier(24, Decimal(100)),
    PolicyTier(6, Decimal(50)),
    PolicyTier(0, Decimal(0)),
)


@dataclass(frozen=True)
class CancellationPolicy:
    """Tiers of "at least N hours before the start → this share refunded". Cancelling later
    than the smallest tier refunds nothing."""

    tiers: tuple[PolicyTier, ...] = DEFAULT_POLICY

    @classmethod
    def from_json(cls, doc: Any) -> CancellationPolicy:
        if doc is None:
            return cls()
        if not isinstance(doc, list) or not doc or len(doc) > 20:
            raise InvalidPlan("a cancellation policy is a list of 1 to 20 tiers")
        tiers = []
        for tier in doc:
            try:
                hours = int(tier["hours_before"])
            except (KeyError, TypeError, ValueError):
                raise InvalidPlan("each tier needs hours_before (whole hours)") from None
            if not 0 <= hours <= 24 * 730:
                raise InvalidPlan("hours_before must be between 0 and 17520")
            tiers.append(PolicyTier(hours, _percent(tier.get("refund_percent"), "refund_percent")))
        tiers.sort(key=lambda t: -t.hours_before)
        if len({t.hours_before for t in tiers}) != len(tiers):
            raise InvalidPlan("two tiers have the same hours_before")
        for earlier, later in pairwise(tiers):
            if later.refund_percent > earlier.refund_percent:
                raise InvalidPlan("cancelling later never refunds more than cancelling earlier")
        return cls(tuple(tiers))

    def to_json(self) -> list[dict[str, Any]]:
        return [
            {"hours_before": t.hours_before, "refund_percent": str(t.refund_percent)}
            for t in self.tiers
        ]

    def refund_percent(self, hours_before_start: Decimal) -> Decimal:
        for tier in self.tiers:  # largest threshold first
            if hours_before_start >= tier.hours_before:
                return tier.refund_percent
        return Decimal(0)


@dataclass(frozen=True)
class RatePlan:
    currency: str
    basis: Basis
    base_price: Decimal
    weekend_price: Decimal | None = None
    weekend_days: frozenset[int] = frozenset({4, 5})  # Friday and Saturday nights / days
    seasons: tuple[Season, ...] = ()
    length_discounts: tuple[LengthDiscount, ...] = ()
    fees: tuple[Fee, ...] = ()
    taxes: tuple[Tax, ...] = DEFAULT_TAXES
    categories: tuple[PartyCategory, ...] = DEFAULT_CATEGORIES
    policy: CancellationPolicy = field(default_factory=CancellationPolicy)
    quote_valid_minutes: int = 30

    # -- reading and writing the stored form ------------------------------------------------

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> RatePlan:
        """Validate a plan document (as stored and as sent over REST); every problem is an
        ``InvalidPlan`` that names the field."""
        currency = str(doc.get("currency", ""))
        minor_unit(currency)  # UnsupportedCurrency
        try:
            basis = Basis(doc.get("basis", "per_night"))
        except ValueError:
            raise InvalidPlan(f"basis must be one of {', '.join(b.value for b in Basis)}") from None
        base = _amount(doc.get("base_price"), currency, "base_price")
        weekend = doc.get("weekend_price")
        weekend_days = doc.get("weekend_days", [4, 5])
        if not isinstance(weekend_days, list) or any(
            not isinstance(d, int) or not 0 <= d <= 6 for d in weekend_days
        ):
            raise InvalidPlan("weekend_days are weekday numbers, 0 = Monday .. 6 = Sunday")
        seasons = []
        for s in doc.get("seasons") or []:
            try:
                season = Season(
                    name=str(s.get("name") or "season")[:80],
                    starts_on=date.fromisoformat(s["starts_on"]),
                    ends_on=date.fromisoformat(s["ends_on"]),
                    price=_amount(s.get("price"), currency, "season price"),
                    weekend_price=(
                        _amount(s["weekend_price"], currency, "season weekend_price")
                        if s.get("weekend_price") is not None
                        else None
                    ),
                )
            except (KeyError, TypeError, ValueError, AttributeError):
                raise InvalidPlan(
                    "a season needs starts_on, ends_on (ISO dates) and price"
                ) from None
            if season.ends_on <= season.starts_on:
                raise InvalidPlan(f"season {season.name}: ends_on must be after starts_on")
            seasons.append(season)
        seasons.sort(key=lambda s: s.starts_on)
        for a, b in pairwise(seasons):
            if b.starts_on < a.ends_on:
                raise InvalidPlan(f"seasons {a.name} and {b.name} overlap")
        discounts = []
        for d in doc.get("length_discounts") or []:
            try:
                units = int(d["min_units"])
            except (KeyError, TypeError, ValueError):
                raise InvalidPlan("a length discount needs min_units") from None
            if units < 2:
                raise InvalidPlan("a length discount starts at 2 units or more")
            discounts.append(LengthDiscount(units, _percent(d.get("percent"), "discount percent")))
        if len({d.min_units for d in discounts}) != len(discounts):
            raise InvalidPlan("two length discounts have the same min_units")
        fees = []
        for f in doc.get("fees") or []:
            per = f.get("per", "booking") if isinstance(f, dict) else None
            if per not in ("booking", "night", "person"):
                raise InvalidPlan("a fee is per booking, night or person")
            fees.append(
                Fee(
                    str(f.get("name") or "fee")[:80],
                    _amount(f.get("amount"), currency, "fee"),
                    per,
                )
            )
        taxes: tuple[Tax, ...] = DEFAULT_TAXES
        if doc.get("taxes") is not None:
            taxes = tuple(
                Tax(
                    str(t.get("name") or "tax")[:80],
                    _percent(t.get("percent"), "tax percent", high=100),
                    bool(t.get("inclusive", False)),
                )
                for t in doc["taxes"]
            )
        categories: tuple[PartyCategory, ...] = DEFAULT_CATEGORIES
        if doc.get("party_categories") is not None:
            given = {c.get("name"): c for c in doc["party_categories"]}
            if set(given) != {"adults", "children", "infants"}:
                raise InvalidPlan("party_categories are exactly adults, children and infants")
            categories = tuple(
                PartyCategory(
                    name,
                    _percent(given[name].get("percent"), f"{name} percent", high=200),
                    str(given[name].get("ages", default.ages))[:20],
                )
                for name, default in zip(
                    ("adults", "children", "infants"), DEFAULT_CATEGORIES, strict=True
                )
            )
        valid = doc.get("quote_valid_minutes", 30)
        if not isinstance(valid, int) or not 1 <= valid <= 7 * 24 * 60:
            raise InvalidPlan("quote_valid_minutes must be between 1 and 10080")
        return cls(
            currency=currency,
            basis=basis,
            base_price=base,
            weekend_price=(
                _amount(weekend, currency, "weekend_price") if weekend is not None else None
            ),
            weekend_days=frozenset(weekend_days),
            seasons=tuple(seasons),
            length_discounts=tuple(sorted(discounts, key=lambda d: d.min_units)),
            fees=tuple(fees),
            taxes=taxes,
            categories=categories,
            policy=CancellationPolicy.from_json(doc.get("cancellation_policy")),
            quote_valid_minutes=valid,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "basis": self.basis.value,
            "base_price": str(self.base_price),
            "weekend_price": str(self.weekend_price) if self.weekend_price is not None else None,
            "weekend_days": sorted(self.weekend_days),
            "seasons": [
                {
                    "name": s.name,
                    "starts_on": s.starts_on.isoformat(),
                    "ends_on": s.ends_on.isoformat(),
                    "price": str(s.price),
                    "weekend_price": str(s.weekend_price) if s.weekend_price is not None else None,
                }
                for s in self.seasons
            ],
            "length_discounts": [
                {"min_units": d.min_units, "percent": str(d.percent)} for d in self.length_discounts
            ],
            "fees": [{"name": f.name, "amount": str(f.amount), "per": f.per} for f in self.fees],
            "taxes": [
                {"name": t.name, "percent": str(t.percent), "inclusive": t.inclusive}
                for t in self.taxes
            ],
            "party_categories": [
                {"name": c.name, "percent": str(c.percent), "ages": c.ages} for c in self.categories
            ],
            "cancellation_policy": self.policy.to_json(),
            "quote_valid_minutes": self.quote_valid_minutes,
        }

    # -- prices -----------------------------------------------------------------------------

    def price_on(self, day: date) -> tuple[Decimal, str]:
        """The unit price on a local date and why (for the line's description)."""
        weekend = day.weekday() in self.weekend_days
        for season in self.seasons:
            if season.starts_on <= day < season.ends_on:
                if weekend and season.weekend_price is not None:
                    return season.weekend_price, f"{season.name}, weekend"
                return season.price, season.name
        if weekend and self.weekend_price is not None:
            return self.weekend_price, "weekend"
        return self.base_price, "weekday" if self.weekend_price is not None else "base"

    def length_discount(self, units: Decimal) -> LengthDiscount | None:
        best = None
        for d in self.length_discounts:  # ascending
            if units >= d.min_units:
                best = d
        return best
