"""W3C Trace Context propagation, carried from the transaction that writes an outbox row to
the consumer that handles it (``ce_traceparent``), and from an HTTP request into its outbox rows.

Only the ``traceparent`` header is modelled here; exporting spans is the observability layer's
job. Each hop keeps the trace id and gets a fresh span id.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_current: ContextVar[str | None] = ContextVar("traceparent", default=None)


def parse(value: str | None) -> tuple[str, str, str] | None:
    """(trace id, parent span id, flags), or None for a missing or malformed header."""
    if not value:
        return None
    match = _TRACEPARENT.match(value.strip().lower())
    if not match:
        return None
    trace_id, span_id, flags = match.groups()
    if trace_id == "0" * 32 or span_id == "0" * 16:
        return None
    return trace_id, span_id, flags


def new_traceparent() -> str:
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


def child_of(parent: str | None) -> str:
    """A traceparent for a new span under ``parent`` (a new trace when parent is invalid)."""
    parsed = parse(parent)
    if parsed is None:
        return new_traceparent()
    trace_id, _, flags = parsed
    return f"00-{trace_id}-{secrets.token_hex(8)}-{flags}"


def current() -> str | None:
    return _current.get()


def current_or_new() -> str:
    value = _current.get()
    if value is None:
        value = new_traceparent()
        _current.set(value)
    return value


def trace_id_of(traceparent: str | None) -> str | None:
    parsed = parse(traceparent)
    return parsed[0] if parsed else None


@contextmanager
def span(parent: str | None) -> Iterator[str]:
    """Run a block as a child span of ``parent``; outbox rows written inside carry it."""
    token = _current.set(child_of(parent))
    try:
        yield _current.get() or ""
    finally:
        _current.reset(token)
