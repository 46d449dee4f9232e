"""Exact money arithmetic. Pure.

Rounding rule: every amount a guest sees is quantized to the currency's ISO 4217 minor unit
with ROUND_HALF_UP (commercial rounding), once per line item, and totals are sums of rounded
lines, so a quote's lines always add up to its total.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from contracts.base import CURRENCY_EXPONENTS, to_minor_units


class PricingRuleBroken(Exception):
    code = "pricing_rule_broken"


class UnsupportedCurrency(PricingRuleBroken):
    code = "unsupported_currency"


class InvalidRate(PricingRuleBroken):
    code = "invalid_rate"


class NoRatePlan(PricingRuleBroken):
    code = "no_rate_plan"


def minor_unit(currency: str) -> Decimal:
    try:
        exponent = CURRENCY_EXPONENTS[currency]
    except KeyError:
        raise UnsupportedCurrency(f"unsupported currency {currency!r}") from None
    return Decimal(1).scaleb(-exponent)


def quantize(amount: Decimal, currency: str) -> Decimal:
    minor_unit(currency)  # refuses unknown currencies with a named error
    return to_minor_units(amount, currency)


def parse_rate(raw: str, currency: str) -> Decimal:
    """A positive decimal string with no more precision than the currency's minor unit."""
    try:
        value = Decimal(raw)
    except (InvalidOperation, TypeError):
        raise InvalidRate(f"{raw!r} is not a decimal number") from None
    if not value.is_finite() or value <= 0:
        raise InvalidRate("the rate must be a positive amount")
    if quantize(value, currency) != value:
        raise InvalidRate(
            f"{currency} amounts have at most {CURRENCY_EXPONENTS[currency]} decimals"
        )
    return value


@dataclass(frozen=True)
class StayQuote:
    nights: int
    nightly_rate: Decimal
    total: Decimal
    currency: str


def quote_stay(nights: int, nightly_rate: Decimal, currency: str) -> StayQuote:
    """nights × rate, exact."""
    if nights < 1:
        raise PricingRuleBroken("a stay has at least one night")
    return StayQuote(nights, nightly_rate, quantize(nightly_rate * nights, currency), currency)
