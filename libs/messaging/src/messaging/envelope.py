"""CloudEvents 1.0 envelope in Kafka binary content mode.

Attributes travel as ``ce_*`` headers, the data (JSON) is the record value, ``content-type``
names its media type and the record key is the partition key. ``source`` + ``id`` identify a
message: they are fixed when the outbox row is written, so a redelivery carries the same pair.
"""

from __future__ import annotations

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
        """Parse a Kafka record; ``InvalidEnvelope`` when it is not a binary-mode CloudEvent."""
        attrs: dict[str, str] = {}
        for name, raw in headers or ():
            try:
                attrs[name.lower()] = raw.decode() if raw is not None else ""
            except UnicodeDecodeError as exc:
                raise InvalidEnvelope(f"header {name} is not UTF-8") from exc
        missing = [h for h in ce.REQUIRED if not attrs.get(h)]
        if missing:
            raise InvalidEnvelope(f"missing CloudEvents attributes: {', '.join(missing)}")
        if attrs[ce.H_SPECVERSION] != ce.SPEC_VERSION:
            raise InvalidEnvelope(f"unsupported specversion {attrs[ce.H_SPECVERSION]!r}")
        content_type = attrs.get(ce.H_CONTENT_TYPE, ce.CONTENT_TYPE_JSON)
        if not content_type.startswith(ce.CONTENT_TYPE_JSON):
            raise InvalidEnvelope(f"unsupported content-type {content_type!r}")
        if value is None:
            raise InvalidEnvelope("record has no value")
        raw_time = attrs.get(ce.H_TIME)
        try:
            time = datetime.fromisoformat(raw_time) if raw_time else datetime.now(UTC)
        except ValueError as exc:
            raise InvalidEnvelope(f"bad ce_time {raw_time!r}") from exc
        partitionkey = attrs.get(ce.H_PARTITIONKEY) or (
            key.decode(errors="replace") if key else None
        )
        return cls(
            id=attrs[ce.H_ID],
            source=attrs[ce.H_SOURCE],
            type=attrs[ce.H_TYPE],
            time=time,
            data=value,
            subject=attrs.get(ce.H_SUBJECT),
            partitionkey=partitionkey,
            traceparent=attrs.get(ce.H_TRACEPARENT),
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
