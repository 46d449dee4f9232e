"""Ids from outside (a path, a message) are checked before they reach a query: a string that is
not a UUID names nothing that exists, and must never become a database error."""

from __future__ import annotations

import uuid


def canonical_uuid(value: str) -> str | None:
    """``value`` as a canonical UUID string, or None when it is not one."""
    try:
        return str(uuid.UUID(value))
    except (ValueError, TypeError, AttributeError):
        return None
