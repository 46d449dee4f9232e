"""CloudEvents conformance of the Kafka protocol binding, checked against the CloudEvents SDK
for Python (``cloudevents``), an implementation independent of ours.

- what the platform publishes is a binary-mode CloudEvent the SDK reads, every required
  attribute present, and ``partitionkey`` equal to the record key;
- what the SDK writes, in either content mode, the platform reads alike: the ``content-type``
  header decides the mode;
- a record missing a required attribute is refused, in either mode.
(That a redelivered event keeps ``source`` and ``id`` is tested through the real relay and
broker, in tests/integration/test_outbox_relay.py.)
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from cloudevents.core.bindings import kafka as sdk
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from contracts.booking import BookingCancelled
from messaging.envelope import Envelope
from messaging.errors import InvalidEnvelope

WHEN = datetime(2026, 11, 21, 9, 30, 15, 123000, tzinfo=UTC)
DATA = {
    "booking_id": "b-42",
    "booking_version": 4,
    "status": "cancelled",
    "occurred_at": "2026-11-21T09:30:15.123000Z",
    "previous_status": "confirmed",
}


def ours() -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """A record as the relay writes it."""
    envelope = Envelope(
        id="7f0c1c9e-0e59-4a53-9f0b-6a4d3e2c1b0a",
        source="/booking-platform/booking",
        type=BookingCancelled.ce_type(),
        time=WHEN,
        data=json.dumps(DATA).encode(),
        subject="b-42",
        partitionkey="b-42",
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    )
    return b"b-42", envelope.data, envelope.headers()


def sdk_event(**extra: Any) -> CloudEvent:
    attributes = {
        "specversion": "1.0",
        "id": "evt-1",
        "source": "/somewhere/else",
        "type": BookingCancelled.ce_type(),
        "time": WHEN,
        "subject": "b-42",
        "datacontenttype": "application/json",
        "partitionkey": "b-42",
        **extra,
    }
    return CloudEvent(attributes, DATA)


def as_record(message: sdk.KafkaMessage) -> tuple[bytes | None, bytes, list[tuple[str, bytes]]]:
    key = message.key.encode() if isinstance(message.key, str) else message.key
    return key, message.value, list(message.headers.items())


def test_what_the_platform_publishes_is_a_binary_mode_cloudevent_the_sdk_reads() -> None:
    key, value, headers = ours()
    names = {name for name, _ in headers}
    assert {"ce_specversion", "ce_id", "ce_source", "ce_type"} <= names
    assert dict(headers)["content-type"] == b"application/json"  # binary mode, JSON data
    event = sdk.from_kafka(sdk.KafkaMessage(dict(headers), key, value), JSONFormat())
    assert event.get_specversion() == "1.0"
    assert event.get_id() == "7f0c1c9e-0e59-4a53-9f0b-6a4d3e2c1b0a"
    assert event.get_source() == "/booking-platform/booking"
    assert event.get_type() == "booking.cancelled.v1"
    assert event.get_time() == WHEN
    assert event.get_subject() == "b-42"
    assert event.get_datacontenttype() == "application/json"
    assert event.get_extension("partitionkey") == "b-42" == key.decode()
    assert event.get_extension("traceparent").startswith("00-0af7651916cd43dd")
    data = event.get_data()
    assert (json.loads(data) if isinstance(data, str | bytes) else data) == DATA


@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_the_platform_reads_what_the_sdk_writes_in_either_mode(mode: str) -> None:
    writer = sdk.to_binary if mode == "binary" else sdk.to_structured
    message = writer(sdk_event(), JSONFormat())
    if mode == "structured":
        assert message.headers["content-type"].startswith(b"application/cloudevents+json")
    envelope = Envelope.from_record(*as_record(message))
    assert (envelope.id, envelope.source, envelope.type) == (
        "evt-1",
        "/somewhere/else",
        "booking.cancelled.v1",
    )
    assert envelope.time == WHEN and envelope.subject == "b-42"
    assert envelope.partitionkey == "b-42"
    decoded = envelope.decode()
    assert isinstance(decoded, BookingCancelled) and decoded.booking_version == 4


def test_the_content_type_header_decides_the_mode() -> None:
    structured = sdk.to_structured(sdk_event(), JSONFormat())
    # The same value announced as plain JSON is binary mode: it has no ce_ headers.
    with pytest.raises(InvalidEnvelope, match="missing CloudEvents attributes"):
        Envelope.from_record(
            structured.key, structured.value, [("content-type", b"application/json")]
        )
    # Binary data announced as a structured event is read as one, and is not.
    key, value, headers = ours()
    relabelled = [(n, v) for n, v in headers if n != "content-type"]
    relabelled.append(("content-type", b"application/cloudevents+json; charset=utf-8"))
    with pytest.raises(InvalidEnvelope, match="missing CloudEvents attributes"):
        Envelope.from_record(key, value, relabelled)
    with pytest.raises(InvalidEnvelope, match="unsupported event format"):
        Envelope.from_record(key, value, [("content-type", b"application/cloudevents-batch+json")])


@pytest.mark.parametrize("attribute", ["specversion", "id", "source", "type"])
def test_a_missing_required_attribute_is_refused_in_either_mode(attribute: str) -> None:
    key, value, headers = ours()
    with pytest.raises(InvalidEnvelope, match=f"ce_{attribute}"):
        Envelope.from_record(key, value, [(n, v) for n, v in headers if n != f"ce_{attribute}"])
    event = json.loads(sdk.to_structured(sdk_event(), JSONFormat()).value)
    del event[attribute]
    with pytest.raises(InvalidEnvelope, match=f"ce_{attribute}"):
        Envelope.from_record(
            key, json.dumps(event).encode(), [("content-type", b"application/cloudevents+json")]
        )


def test_the_record_key_is_the_partition_key_when_the_attribute_is_absent() -> None:
    message = sdk.to_binary(sdk_event(partitionkey=None), JSONFormat(), key_mapper=lambda e: "b-42")
    key, value, headers = as_record(message)
    assert not any(n == "ce_partitionkey" for n, _ in headers)
    assert Envelope.from_record(key, value, headers).partitionkey == "b-42"


def test_an_unsupported_specversion_is_refused() -> None:
    key, value, headers = ours()
    older = [(n, b"0.3" if n == "ce_specversion" else v) for n, v in headers]
    with pytest.raises(InvalidEnvelope, match="specversion"):
        Envelope.from_record(key, value, older)
