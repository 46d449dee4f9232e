"""Quotes, refund quotes and modification quotes. Pure.

Rounding (documented in docs/ARCHITECTURE.md, "Money"): every amount is quantized to the
currency's ISO 4217 minor unit with ROUND_HALF_UP exactly once, where it is derived:

* a derived unit price (a party category's share of the price) is rounded before it is
  multiplied, so a per-person line is exactly quantity × unit price;
* a prorated line (1.5 hours × the hourly price), a discount, a tax and a refund are rounded
  once, on the line itself;
* subtotals and the total are sums of rounded lines, never rounded again. A quote's lines
  therefore always add up to its total, to the minor unit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from pricing.domain.money import PricingRuleBroken, quantize
from pricing.domain.plans import Basis, CancellationPolicy, RatePlan

HUNDRED = Decimal(100)


class UnpriceableRequest(PricingRuleBroken):
    code = "unpriceable_request"


@dataclass(frozen=True)
class Stay:
    check_in: date
    check_out: date

    @property
    def nights(self) -> list[date]:
        return [
            self.check_in + timedelta(days=i) for i in range((self.check_out - self.check_in).days)
        ]


@dataclass(frozen=True)
class Window:
    """A timeslot booking: an aware start and end, and the resource's timezone."""

    starts_at: datetime
    ends_at: datetime
    timezone: str

    @property
    def local_date(self) -> date:
        return self.starts_at.astimezone(ZoneInfo(self.timezone)).date()

    @property
    def hours(self) -> Decimal:
        return Decimal(int((self.ends_at - self.starts_at).total_seconds() // 60)) / 60


@dataclass(frozen=True)
class PartyMix:
    adults: int
    children: int = 0
    infants: int = 0

    def count(self, category: str) -> int:
        return int(getattr(self, category))

    @property
    def paying(self) -> int:
        """Who pays per-person fees: everyone but infants."""
        return self.adults + self.children


@dataclass(frozen=True)
class Line:
    kind: str  # charge | discount | fee | tax | tax_included
    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal  # signed; a tax_included line is informational and not added

    @property
    def counts(self) -> bool:
        return self.kind != "tax_included"

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "description": self.description,
            "quantity": str(self.quantity),
            "unit_price": str(self.unit_price),
            "amount": str(self.amount),
        }


@dataclass(frozen=True)
class Priced:
    currency: str
    lines: tuple[Line, ...]
    policy: CancellationPolicy

    def _sum(self, *kinds: str) -> Decimal:
        return sum((ln.amount for ln in self.lines if ln.kind in kinds), Decimal(0))

    @property
    def subtotal(self) -> Decimal:
        return self._sum("charge")

    @property
    def discounts(self) -> Decimal:
        return self._sum("discount")

    @property
    def fees(self) -> Decimal:
        return self._sum("fee")

    @property
    def taxes(self) -> Decimal:
        return self._sum("tax")

    @property
    def taxes_included(self) -> Decimal:
        return self._sum("tax_included")

    @property
    def total(self) -> Decimal:
        return sum((ln.amount for ln in self.lines if ln.counts), Decimal(0))


def _grouped(days: Iterable[date], plan: RatePlan) -> list[tuple[str, Decimal, int]]:
    """(why, price, how many days), in order of first appearance."""
    groups: dict[tuple[str, Decimal], int] = {}
    for day in days:
        price, why = plan.price_on(day)
        groups[(why, price)] = groups.get((why, price), 0) + 1
    return [(why, price, n) for (why, price), n in groups.items()]


def _num(d: Decimal) -> str:
    """10 → "10", 12.50 → "12.5" (never "1E+1")."""
    return format(d.normalize(), "f")


def _plural(n: int | Decimal, word: str) -> str:
    return f"{n} {word if n == 1 else word + 's'}"


_SINGULAR = {"adults": "adult", "children": "child", "infants": "infant"}
_PLURAL = {"adult": "adults", "child": "children", "infant": "infants"}


def _people(n: int, category: str) -> str:
    word = _SINGULAR[category]
    return f"{n} {word if n == 1 else _PLURAL[word]}"


def _person_lines(
    plan: RatePlan, party: PartyMix, groups: list[tuple[str, Decimal, int]], unit: str
) -> list[Line]:
    lines = []
    for why, price, n in groups:
        for category in plan.categories:
            count = party.count(category.name)
            if count == 0:
                continue
            each = quantize(price * category.percent / HUNDRED, plan.currency)
            share = "" if category.percent == HUNDRED else f", {_num(category.percent)} %"
            quantity = Decimal(count * n)
            lines.append(
                Line(
                    "charge",
                    f"{_people(count, category.name)} × {_plural(n, unit)} ({why}{share})",
                    quantity,
                    each,
                    quantity * each,
                )
            )
    return lines


def quote(
    plan: RatePlan, *, party: PartyMix, stay: Stay | None = None, window: Window | None = None
) -> Priced:
    """Price a stay or a timeslot booking for a party under ``plan``."""
    if (stay is None) == (window is None):
        raise UnpriceableRequest("price either a stay or a time window")
    if party.adults < 1 or party.children < 0 or party.infants < 0:
        raise UnpriceableRequest("a party has at least one adult and no negative counts")
    cur = plan.currency
    charges: list[Line]
    if stay is not None:
        nights = stay.nights
        if not nights:
            raise UnpriceableRequest("a stay has at least one night")
        if plan.basis in (Basis.PER_HOUR, Basis.PER_SLOT):
            raise UnpriceableRequest(f"a {plan.basis.value} plan prices timeslots, not stays")
        groups = _grouped(nights, plan)
        if plan.basis is Basis.PER_PERSON:
            charges = _person_lines(plan, party, groups, "night")
        else:
            charges = [
                Line("charge", f"{_plural(n, 'night')} ({why})", Decimal(n), price, n * price)
                for why, price, n in groups
            ]
        units = Decimal(len(nights))
        night_count = len(nights)
    else:
        assert window is not None
        if window.ends_at <= window.starts_at:
            raise UnpriceableRequest("a time window ends after it starts")
        if plan.basis is Basis.PER_NIGHT:
            raise UnpriceableRequest("a per_night plan prices stays, not timeslots")
        groups = _grouped([window.local_date], plan)
        why, price, _ = groups[0]
        if plan.basis is Basis.PER_PERSON:
            charges = _person_lines(plan, party, groups, "slot")
            units = Decimal(1)
        elif plan.basis is Basis.PER_HOUR:
            hours = window.hours
            if hours <= 0:
                raise UnpriceableRequest("a time window lasts at least a minute")
            charges = [
                Line(
                    "charge",
                    f"{_num(hours)} h ({why})",
                    hours,
                    price,
                    quantize(hours * price, cur),
                )
            ]
            units = hours
        else:
            charges = [Line("charge", f"1 slot ({why})", Decimal(1), price, price)]
            units = Decimal(1)
        night_count = 1
    lines = list(charges)
    subtotal = sum((ln.amount for ln in charges), Decimal(0))
    discount = plan.length_discount(units)
    if discount is not None and discount.percent > 0 and subtotal > 0:
        off = quantize(subtotal * discount.percent / HUNDRED, cur)
        lines.append(
            Line(
                "discount",
                f"{_num(discount.percent)} % off from {discount.min_units} units",
                Decimal(1),
                -off,
                -off,
            )
        )
    for fee in plan.fees:
        quantity = Decimal({"booking": 1, "night": night_count, "person": party.paying}[fee.per])
        lines.append(
            Line("fee", f"{fee.name} (per {fee.per})", quantity, fee.amount, quantity * fee.amount)
        )
    taxable = sum((ln.amount for ln in lines), Decimal(0))
    for tax in plan.taxes:
        if tax.percent == 0:
            continue
        if tax.inclusive:
            amount = quantize(taxable * tax.percent / (HUNDRED + tax.percent), cur)
            kind, label = "tax_included", "included"
        else:
            amount = quantize(taxable * tax.percent / HUNDRED, cur)
            kind, label = "tax", "on"
        lines.append(
            Line(
                kind,
                f"{tax.name} {_num(tax.percent)} % {label} {taxable}",
                Decimal(1),
                amount,
                amount,
            )
        )
    return Priced(cur, tuple(lines), plan.policy)


@dataclass(frozen=True)
class RefundQuote:
    hours_before_start: Decimal
    refund_percent: Decimal
    refundable: Decimal
    paid: Decimal
    currency: str


def refund_quote(
    policy: CancellationPolicy, *, paid: Decimal, currency: str, starts_at: datetime, now: datetime
) -> RefundQuote:
    """What cancelling ``now`` refunds of ``paid`` under the policy snapshot of the booking."""
    if paid < 0:
        raise UnpriceableRequest("the amount paid cannot be negative")
    if starts_at.tzinfo is None or now.tzinfo is None:
        raise UnpriceableRequest("times must carry a timezone")
    hours = Decimal(int((starts_at - now).total_seconds())) / 3600
    percent = policy.refund_percent(hours)
    return RefundQuote(
        hours_before_start=hours.quantize(Decimal("0.01")),
        refund_percent=percent,
        refundable=quantize(paid * percent / HUNDRED, currency),
        paid=paid,
        currency=currency,
    )


@dataclass(frozen=True)
class Difference:
    old_total: Decimal
    new_total: Decimal
    currency: str

    @property
    def amount(self) -> Decimal:
        return self.new_total - self.old_total

    @property
    def action(self) -> str:
        return "charge" if self.amount > 0 else "refund" if self.amount < 0 else "none"


def modification_difference(
    old_total: Decimal, old_currency: str, new_total: Decimal, new_currency: str
) -> Difference:
    """What a modification charges (positive) or refunds (negative): new total - old total."""
    if old_currency != new_currency:
        raise UnpriceableRequest(
            f"the booking was priced in {old_currency}; the new price is in {new_currency}"
        )
    return Difference(old_total, new_total, new_currency)
