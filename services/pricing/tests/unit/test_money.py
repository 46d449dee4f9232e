from __future__ import annotations

from decimal import Decimal

import pytest

from pricing.domain.money import InvalidRate, UnsupportedCurrency, parse_rate, quote_stay


def test_quotes_nights_times_rate_exactly() -> None:
    quote = quote_stay(3, Decimal("33.33"), "EUR")
    assert quote.total == Decimal("99.99")


def test_zero_decimal_currencies_have_no_minor_units() -> None:
    assert quote_stay(2, Decimal("15000"), "JPY").total == Decimal("30000")
    with pytest.raises(InvalidRate):
        parse_rate("100.5", "JPY")


def test_rates_must_be_positive_decimal_strings() -> None:
    assert parse_rate("120.00", "EUR") == Decimal("120.00")
    for bad in ("0", "-1", "abc", "NaN", "Infinity", "1.005"):
        with pytest.raises(InvalidRate):
            parse_rate(bad, "EUR")


def test_unknown_currencies_are_refused() -> None:
    with pytest.raises(UnsupportedCurrency):
        parse_rate("10", "XXX")
