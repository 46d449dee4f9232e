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

from dataclasses import dataclass, fields

from pydantic import ValidationError

from contracts import cloudevents as ce
from contracts.base import ContractMessage
from contracts.registry import REGISTRY
from messaging.errors import InvalidEnvelope, UnknownMessageType, describe

Headers = list[tuple[str, bytes]]


@dataclass(frozen=True, slots=True)
class Envelope(ce.KafkaCloudEvent):
    """A CloudEvent (the attributes ``contracts.cloudevents`` defines) as the platform writes
    and decodes it."""

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
        """Parse a Kafka record in either content mode (``contracts.cloudevents.parse``);
        ``InvalidEnvelope`` when it is not a CloudEvent this platform can read."""
        try:
            event = ce.parse(key, value, headers)
        except ce.InvalidCloudEvent as exc:
            raise InvalidEnvelope(str(exc)) from exc
        return cls(**{f.name: getattr(event, f.name) for f in fields(event)})

    def decode(self) -> ContractMessage:
        """The typed message; ``UnknownMessageType`` or ``InvalidEnvelope`` when it cannot be."""
        model = REGISTRY.get(self.type)
        if model is None:
            raise UnknownMessageType(f"no contract for type {self.type!r}")
        try:
            return model.model_validate_json(self.data)
        except ValidationError as exc:
            raise InvalidEnvelope(
                f"{self.type} does not match its schema: {describe(exc)}"
            ) from exc
