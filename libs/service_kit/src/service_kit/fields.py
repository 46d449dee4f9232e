"""Input types shared by every API.

Emails and phone numbers are checked for what they are, not by a pattern: ``Email`` by
``email-validator`` and ``Phone`` by ``phonenumbers`` (normalised to E.164).

Pydantic's lax mode reads a date from a number (seconds since 1970) and from a datetime string;
an API that promises ``format: date`` takes exactly ``YYYY-MM-DD`` and refuses the rest with a
clear 422.

Every input is bounded (strings, lists, headers, path segments), so what a caller sends costs
the service a known amount; the OpenAPI documents say each bound and a test fails on an input
without one.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

import email_validator
import phonenumbers
from fastapi import Path
from pydantic import AfterValidator, BeforeValidator, Field

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date(value: Any) -> Any:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        return value  # the calendar check (no 2026-02-30) is pydantic's
    raise ValueError("a date is written YYYY-MM-DD")


IsoDate = Annotated[date, BeforeValidator(_iso_date)]


def _email(value: str) -> str:
    """An email address as RFC 5321/5322 and IDNA allow it (``email-validator``, no DNS
    lookup), normalised (the domain lowercased and IDNA-encoded). The message never repeats
    the address."""
    try:
        return str(email_validator.validate_email(value, check_deliverability=False).normalized)
    except email_validator.EmailNotValidError:
        raise ValueError("not a valid email address") from None


def _phone(value: str) -> str:
    """A phone number in international form (``+`` and the country code), normalised to E.164
    (``+351912345678``); refused unless ``phonenumbers`` knows it as a possible, valid number."""
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        raise ValueError(
            "a phone number is written in international form: +<country><number>"
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid phone number")
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


Email = Annotated[str, Field(min_length=3, max_length=254), AfterValidator(_email)]
Phone = Annotated[str, Field(min_length=6, max_length=32), AfterValidator(_phone)]


# An id in a path (a UUID, a booking reference): anything longer is no id of ours, a 422.
PathId = Annotated[str, Path(max_length=64)]
# Days of the week, 0 = Monday, each at most once.
Weekday = Annotated[int, Field(ge=0, le=6)]
Weekdays = Annotated[list[Weekday], Field(max_length=7)]
# An ETag in If-Match (ours are a quoted version number).
IF_MATCH_MAX = 64
