"""Fields every log line of a unit of work carries (``message_id``, ``booking_id``, ``saga_id``
...), without passing them to each ``log`` call. ``service_kit.logs`` writes them into each
JSON line; a field given to the call itself (``extra=``) wins.

The runner opens a scope per message and the web one per request; code inside adds what it
learns (the booking a message is about, the saga it moves). Leaving the scope drops all of it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType

_EMPTY: Mapping[str, object] = MappingProxyType({})
_fields: ContextVar[Mapping[str, object]] = ContextVar("log_fields", default=_EMPTY)


def fields() -> Mapping[str, object]:
    return _fields.get()


def add(**values: object) -> None:
    """Add fields to the current scope (None values are left out)."""
    present = {k: v for k, v in values.items() if v is not None}
    if present:
        _fields.set(MappingProxyType({**_fields.get(), **present}))


@contextmanager
def scope(**values: object) -> Iterator[None]:
    """A scope with these fields on top of the enclosing one's; everything added inside is
    gone when it ends."""
    token = _fields.set(_fields.get())
    try:
        add(**values)
        yield
    finally:
        _fields.reset(token)
