"""Human-friendly booking references: ``BK-20261121-7K3QX9AB``.

Crockford base32 (no I, L, O, U: nothing to misread on the phone), 8 random characters per day:
10^12 possibilities, so a collision within one tenant and day is not a practical concern; the
database still enforces uniqueness per tenant.
"""

from __future__ import annotations

import secrets
from datetime import date

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_reference(today: date, length: int = 8) -> str:
    suffix = "".join(secrets.choice(ALPHABET) for _ in range(length))
    return f"BK-{today:%Y%m%d}-{suffix}"
