"""Base classes for every message on the platform.

Each concrete message declares ``type`` (a stable dotted name) and ``version`` (bumped on a
breaking change). On the wire the CloudEvents ``type`` attribute is ``f"{type}.v{version}"``.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, field_validator

# ISO 4217 minor units for the currencies the platform accepts. Amounts are quantized to these.
CURRENCY_EXPONENTS: dict[str, int] = {
    "EUR": 2,
    "USD": 2,
    "GBP": 2,
    "CHF": 2,
    "SEK": 2,
    "NOK": 2,
    "DKK": 2,
    "PLN": 2,
    "CZK": 2,
    "AUD": 2,
    "CAD": 2,
    "NZD": 2,
    "SGD": 2,
    "HKD": 2,
    "THB": 2,
    "IDR": 2,
    "INR": 2,
    "MXN": 2,
    "BRL": 2,
    "ZAR": 2,
    "JPY": 0,
    "KRW": 0,
    "ISK": 0,
    "VND": 0,
    "CLP": 0,
    "HUF": 2,
    "BHD": 3,
    "KWD": 3,
    "OMR": 3,
    "JOD": 3,
    "TND": 3,
}


def to_minor_units(amount: Decimal, currency: str) -> Decimal:
    """``amount`` quantized to the currency's ISO 4217 minor unit, ROUND_HALF_UP.

    The one rounding rule of the platform: pricing rounds each line with it, and every stored
    ``NUMERIC`` amount is presented with it.
    """
    exponent = CURRENCY_EXPONENTS[currency]
    return amount.quantize(Decimal(1).scaleb(-exponent), rounding=ROUND_HALF_UP)


# Decimal amounts travel as strings so no consumer ever sees a float.
DecimalStr = Annotated[
    Decimal, PlainSerializer(lambda d: str(d), return_type=str, when_used="json")
]


class Money(BaseModel):
    """An exact amount in one currency (ISO 4217), quantized to the currency's minor units."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    amount: DecimalStr
    currency: str = Field(pattern=r"^[A-Z]{3}$")

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        if value not in CURRENCY_EXPONENTS:
            raise ValueError(f"unsupported currency {value!r}")
        return value

    @field_validator("amount")
    @classmethod
    def _finite(cls, value: Decimal) -> Decimal:
        if not value.is_finite():
            raise ValueError("amount must be finite")
        return value

    @classmethod
    def of(cls, amount: Decimal, currency: str) -> Money:
        """Money with ``amount`` rounded to the currency's minor unit."""
        return cls(amount=to_minor_units(amount, currency), currency=currency)


class ContractMessage(BaseModel):
    """A command, reply or event. Frozen: a message is a fact, never edited after creation.

    Every message is a tolerant reader: fields it does not know are ignored. Deployments roll
    one at a time, so a consumer built on an older release meets messages from a newer
    producer (a new optional field) and must apply them, not dead-letter them; every topic is
    checked FULL (``contracts.compat``): what is added is optional, what exists stays.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    type: ClassVar[str]
    version: ClassVar[int] = 1

    @classmethod
    def ce_type(cls) -> str:
        return f"{cls.type}.v{cls.version}"


class Command(ContractMessage):
    """Imperative: asks one participant to do something (``ReserveCapacity``)."""


class Reply(ContractMessage):
    """A participant's answer to a command, sent to the orchestrator's reply topic.

    Every reply names the saga (``booking_id``) and the ``step`` it answers, so stale or
    duplicated replies can be recognised by the orchestrator.
    """

    booking_id: str
    step: str


class Event(ContractMessage):
    """Past tense: something that happened (``booking.confirmed``), for anyone to consume.

    A tolerant reader, like every message (FULL compatibility, ``contracts.compat``).
    """
