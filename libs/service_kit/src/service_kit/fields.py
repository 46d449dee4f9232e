"""Input types shared by every API.

Pydantic's lax mode reads a date from a number (seconds since 1970) and from a datetime string;
an API that promises ``format: date`` takes exactly ``YYYY-MM-DD`` and refuses the rest with a
clear 422.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BeforeValidator

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date(value: Any) -> Any:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        return value  # the calendar check (no 2026-02-30) is pydantic's
    raise ValueError("a date is written YYYY-MM-DD")


IsoDate = Annotated[date, BeforeValidator(_iso_date)]
