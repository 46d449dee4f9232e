"""CloudEvents 1.0 Kafka protocol binding: attribute names on the wire.

The platform publishes binary content mode: a message carries its attributes as ``ce_*``
headers and its data as the record value; ``content-type`` names the data's media type. A
record whose ``content-type`` is ``application/cloudevents+json`` is structured mode instead
(attributes and data in one JSON value). Downstream consumers can parse records with nothing but
this module and the models.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

SPEC_VERSION = "1.0"
CONTENT_TYPE_JSON = "application/json"
CONTENT_TYPE_STRUCTURED_PREFIX = "application/cloudevents"
CONTENT_TYPE_STRUCTURED_JSON = "application/cloudevents+json"
HEADER_PREFIX = "ce_"

H_SPECVERSION = "ce_specversion"
H_ID = "ce_id"
H_SOURCE = "ce_source"
H_TYPE = "ce_type"
H_TIME = "ce_time"
H_SUBJECT = "ce_subject"
H_PARTITIONKEY = "ce_partitionkey"
H_TRACEPARENT = "ce_traceparent"
H_TRACESTATE = "ce_tracestate"
H_CONTENT_TYPE = "content-type"

REQUIRED = (H_SPECVERSION, H_ID, H_SOURCE, H_TYPE)
REQUIRED_ATTRIBUTES = ("specversion", "id", "source", "type")


class InvalidCloudEvent(ValueError):
    """The record is not a CloudEvent that can be read; the message says why."""


@dataclass(frozen=True, slots=True)
class KafkaCloudEvent:
    """A CloudEvent read from a Kafka record: its attributes and its data (JSON bytes)."""

    id: str
    source: str
    type: str
    time: datetime
    data: bytes
    subject: str | None = None
    partitionkey: str | None = None
    traceparent: str | None = None
    content_type: str = CONTENT_TYPE_JSON


def parse(
    key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes | None]] | None
) -> KafkaCloudEvent:
    """Read a Kafka record in either content mode: the ``content-type`` header decides
    (``application/cloudevents+json``: structured, anything else: binary). Raises
    ``InvalidCloudEvent``."""
    attrs: dict[str, str] = {}
    for name, raw in headers or ():
        try:
            attrs[name.lower()] = raw.decode() if raw is not None else ""
        except UnicodeDecodeError as exc:
            raise InvalidCloudEvent(f"header {name} is not UTF-8") from exc
    if value is None:
        raise InvalidCloudEvent("record has no value")
    content_type = attrs.get(H_CONTENT_TYPE, "")
    if content_type.startswith(CONTENT_TYPE_STRUCTURED_PREFIX):
        return _structured(key, value, content_type)
    fields = {n[len(HEADER_PREFIX) :]: v for n, v in attrs.items() if n.startswith(HEADER_PREFIX)}
    return _build(key, fields, value, content_type or CONTENT_TYPE_JSON)


def _structured(key: bytes | None, value: bytes, content_type: str) -> KafkaCloudEvent:
    if not content_type.startswith(CONTENT_TYPE_STRUCTURED_JSON):
        raise InvalidCloudEvent(f"unsupported event format {content_type!r}")
    try:
        event = json.loads(value)
    except ValueError as exc:
        raise InvalidCloudEvent("structured event is not JSON") from exc
    if not isinstance(event, dict):
        raise InvalidCloudEvent("structured event is not a JSON object")
    fields = {k: str(v) for k, v in event.items() if k not in ("data", "data_base64")}
    _require(fields)
    if "data_base64" in event:
        data = base64.b64decode(event["data_base64"])
    elif "data" in event:
        data = json.dumps(event["data"], separators=(",", ":")).encode()
    else:
        raise InvalidCloudEvent("structured event has no data")
    return _build(key, fields, data, fields.get("datacontenttype", CONTENT_TYPE_JSON))


def _build(
    key: bytes | None, attrs: dict[str, str], data: bytes, content_type: str
) -> KafkaCloudEvent:
    _require(attrs)
    if attrs["specversion"] != SPEC_VERSION:
        raise InvalidCloudEvent(f"unsupported specversion {attrs['specversion']!r}")
    if not content_type.startswith(CONTENT_TYPE_JSON):
        raise InvalidCloudEvent(f"unsupported content-type {content_type!r}")
    raw_time = attrs.get("time")
    try:
        time = datetime.fromisoformat(raw_time) if raw_time else datetime.now(UTC)
    except ValueError as exc:
        raise InvalidCloudEvent(f"bad ce_time {raw_time!r}") from exc
    partitionkey = attrs.get("partitionkey") or (key.decode(errors="replace") if key else None)
    return KafkaCloudEvent(
        id=attrs["id"],
        source=attrs["source"],
        type=attrs["type"],
        time=time,
        data=data,
        subject=attrs.get("subject"),
        partitionkey=partitionkey,
        traceparent=attrs.get("traceparent"),
        content_type=content_type,
    )


def _require(attrs: dict[str, str]) -> None:
    missing = [f"{HEADER_PREFIX}{a}" for a in REQUIRED_ATTRIBUTES if not attrs.get(a)]
    if missing:
        raise InvalidCloudEvent(f"missing CloudEvents attributes: {', '.join(missing)}")
