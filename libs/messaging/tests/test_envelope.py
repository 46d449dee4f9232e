"""CloudEvents binary mode: what goes out parses back, and what is not a CloudEvent is refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from contracts.inventory import ReleaseCapacity
from messaging import tracing
from messaging.envelope import Envelope
from messaging.errors import InvalidEnvelope, UnknownMessageType, is_transient


def an_envelope(**overrides) -> Envelope:  # type: ignore[no-untyped-def]
    message = ReleaseCapacity(booking_id="b", step="release_capacity")
    fields = {
        "id": "0b6f",
        "source": "/booking-platform/booking",
        "type": message.ce_type(),
        "time": datetime(2026, 11, 21, 8, 0, tzinfo=UTC),
        "data": message.model_dump_json().encode(),
        "subject": "b",
        "partitionkey": "b",
        "traceparent": tracing.new_traceparent(),
    }
    fields.update(overrides)
    return Envelope(**fields)


def test_round_trips_through_kafka_headers() -> None:
    env = an_envelope()
    parsed = Envelope.from_record(b"b", env.data, env.headers())
    assert parsed == env
    assert isinstance(parsed.decode(), ReleaseCapacity)


def test_required_attributes_are_enforced() -> None:
    env = an_envelope()
    headers = [(k, v) for k, v in env.headers() if k != "ce_source"]
    with pytest.raises(InvalidEnvelope, match="ce_source"):
        Envelope.from_record(b"b", env.data, headers)


def test_structured_mode_and_garbage_are_refused() -> None:
    env = an_envelope()
    headers = [(k, v) for k, v in env.headers() if k != "content-type"] + [
        ("content-type", b"application/cloudevents+json")
    ]
    with pytest.raises(InvalidEnvelope):
        Envelope.from_record(b"b", env.data, headers)
    with pytest.raises(InvalidEnvelope):
        Envelope.from_record(b"b", b"\x00garbage", [])


def test_unknown_types_and_schema_violations_are_permanent() -> None:
    with pytest.raises(UnknownMessageType):
        an_envelope(type="inventory.Nope.v1").decode()
    with pytest.raises(InvalidEnvelope) as info:
        an_envelope(data=b'{"booking_id": 1}').decode()
    assert not is_transient(info.value)


def test_trace_context_keeps_the_trace_and_changes_the_span() -> None:
    parent = tracing.new_traceparent()
    child = tracing.child_of(parent)
    assert tracing.trace_id_of(child) == tracing.trace_id_of(parent)
    assert child != parent
    assert tracing.parse("00-" + "0" * 32 + "-" + "1" * 16 + "-01") is None
