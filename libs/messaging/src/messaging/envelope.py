"""CloudEvents 1.0 envelope over Kafka.

The platform writes binary content mode: attributes travel as ``ce_*`` headers, the data (JSON)
is the record value, ``content-type`` names its media type and the record key is the partition
key (also sent as ``ce_partitionkey``). ``source`` + ``id`` identify a message: they are fixed
when the outbox row is written, so a redelivery carries the same pair.

It reads both modes, as the Kafka protocol binding says: the ``content-type`` header decides.
``application/cloudevents+json`` is structured mode (the whole event, attributes and data, is
the JSON value); anything else is binary mode.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import ValidationError

from contracts import cloudevents as ce
from contracts.base import ContractMessage
from contracts.registry import REGISTRY
from messaging.errors import InvalidEnvelope, UnknownMessageType

Headers = list[tuple[str, bytes]]


@dataclass(frozen=True, slots=True)
class Envelope:
    id: str
    source: str
    type: str
    time: datetime
    data: bytes
    subject: str | None = None
    partitionkey: str | None = None
    traceparent: str | None = None
    content_type: str = ce.CONTENT_TYPE_JSON

    def headers(self) -> Headers:
        out: Headers = [
            (ce.H_SPECVERSION, ce.SPEC_VERSION.encode()),
            (ce.H_ID, self.id.encode()),
            (ce.H_SOURCE, self.source.encode()),
            (ce.H_TYPE, self.type.encode()),
            (ce.H_TIME, self.time.isoformat().encode()),
            (ce.H_CONTENT_TYPE, self.content_type.encode()),
        ]
        if self.subject:
            out.append((ce.H_SUBJECT, self.subject.encode()))
        if self.partitionkey:
            out.append((ce.H_PARTITIONKEY, self.partitionkey.encode()))
        if self.traceparent:
            out.append((ce.H_TRACEPARENT, self.traceparent.encode()))
        return out

    @classmethod
    def from_record(cls, key: bytes | None, value: bytes | None, headers: Headers) -> Envelope:
        """Parse a Kafka record in either content mode; ``InvalidEnvelope`` when it is not a
        CloudEvent this platform can read."""
        attrs: dict[str, str] = {}
        for name, raw in headers or ():
            try:
                attrs[name.lower()] = raw.decode() if raw is not None else ""
            except UnicodeDecodeError as exc:
                raise InvalidEnvelope(f"header {name} is not UTF-8") from exc
        if value is None:
            raise InvalidEnvelope("record has no value")
        content_type = attrs.get(ce.H_CONTENT_TYPE, "")
        if content_type.startswith(ce.CONTENT_TYPE_STRUCTURED_PREFIX):
            return cls._structured(key, value, content_type)
        fields = {
            n[len(ce.HEADER_PREFIX) :]: v
            for n, v in attrs.items()
            if n.startswith(ce.HEADER_PREFIX)
        }
        return cls._build(key, fields, value, content_type or ce.CONTENT_TYPE_JSON)

    @classmethod
    def _structured(cls, key: bytes | None, value: bytes, content_type: str) -> Envelope:
        if not content_type.startswith(ce.CONTENT_TYPE_STRUCTURED_JSON):
            raise InvalidEnvelope(f"unsupported event format {content_type!r}")
        try:
            event = json.loads(value)
        except ValueError as exc:
            raise InvalidEnvelope("structured event is not JSON") from exc
        if not isinstance(event, dict):
            raise InvalidEnvelope("structured event is not a JSON object")
        fields = {k: str(v) for k, v in event.items() if k not in ("data", "data_base64")}
        _require(fields)
        if "data_base64" in event:
            data = base64.b64decode(event["data_base64"])
        elif "data" in event:
            data = json.dumps(event["data"], separators=(",", ":")).encode()
        else:
            raise InvalidEnvelope("structured event has no data")
        return cls._build(key, fields, data, fields.get("datacontenttype", ce.CONTENT_TYPE_JSON))

    @classmethod
    def _build(
        cls, key: bytes | None, attrs: dict[str, str], data: bytes, content_type: str
    ) -> Envelope:
        _require(attrs)
        if attrs["specversion"] != ce.SPEC_VERSION:
            raise InvalidEnvelope(f"unsupported specversion {attrs['specversion']!r}")
        if not content_type.startswith(ce.CONTENT_TYPE_JSON):
            raise InvalidEnvelope(f"unsupported content-type {content_type!r}")
        raw_time = attrs.get("time")
        try:
            time = datetime.fromisoformat(raw_time) if raw_time else datetime.now(UTC)
        except ValueError as exc:
            raise InvalidEnvelope(f"bad ce_time {raw_time!r}") from exc
        partitionkey = attrs.get("partitionkey") or (key.decode(errors="replace") if key else None)
        return cls(
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

    def decode(self) -> ContractMessage:
        """The typed message; ``UnknownMessageType`` or ``InvalidEnvelope`` when it cannot be."""
        model = REGISTRY.get(self.type)
        if model is None:
            raise UnknownMessageType(f"no contract for type {self.type!r}")
        try:
            return model.model_validate_json(self.data)
        except ValidationError as exc:
            raise InvalidEnvelope(f"{self.type} does not match its schema: {exc}") from exc


def _require(attrs: dict[str, str]) -> None:
    missing = [f"{ce.HEADER_PREFIX}{a}" for a in ce.REQUIRED_ATTRIBUTES if not attrs.get(a)]
    if missing:
        raise InvalidEnvelope(f"missing CloudEvents attributes: {', '.join(missing)}")
