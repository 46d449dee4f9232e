"""Emails and phone numbers are checked for what they are, and kept normalised."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from service_kit.fields import Email, Phone


class Guest(BaseModel):
    email: Email
    phone: Phone


def test_a_valid_email_and_phone_are_normalised() -> None:
    g = Guest(email="Ana.Silva@EXAMPLE.org", phone="+351 912 345 678")
    assert (g.email, g.phone) == ("Ana.Silva@example.org", "+351912345678")
    assert Guest(email="zoë@exämple.com", phone="+1 (415) 555-2671").phone == "+14155552671"


@pytest.mark.parametrize(
    ("email", "phone", "field"),
    [
        ("ana@", "+351912345678", "email"),
        ("ana@@example.org", "+351912345678", "email"),
        ("ana@example", "+351912345678", "email"),  # no dot in the domain
        ("ana@mail.test", "+351912345678", "email"),  # a special-use name
        ("ana example@x.org", "+351912345678", "email"),
        ("ana@example.org", "912345678", "phone"),  # no country code
        ("ana@example.org", "+351 12", "phone"),
        ("ana@example.org", "+999 123 456 789", "phone"),  # no such country
        ("ana@example.org", "call me maybe", "phone"),
    ],
)
def test_what_is_not_an_email_or_a_phone_number_is_refused(
    email: str, phone: str, field: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        Guest(email=email, phone=phone)
    assert [e["loc"][0] for e in refused.value.errors()] == [field]
