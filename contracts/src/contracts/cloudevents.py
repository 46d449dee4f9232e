"""CloudEvents 1.0 Kafka protocol binding: attribute names on the wire.

The platform publishes binary content mode: a message carries its attributes as ``ce_*``
headers and its data as the record value; ``content-type`` names the data's media type. A
record whose ``content-type`` is ``application/cloudevents+json`` is structured mode instead
(attributes and data in one JSON value). Downstream consumers can parse records with nothing but
this module and the models.
"""

from __future__ import annotations

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
