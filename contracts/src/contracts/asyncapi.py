"""The AsyncAPI 3.0 document of every topic, generated from the contracts
(``python -m contracts.asyncapi`` writes ``docs/asyncapi.yaml``; ``--check`` fails when the
committed file is stale).

Per topic: its address, partitions, configuration and key (Kafka bindings), who sends and who
receives, and every message that travels on it. Per message: the CloudEvents headers (binary
content mode, ``ce_type`` fixed to the message's type), the JSON payload schema, the record key
and an example (``contracts.examples``), and the compatibility mode its evolution follows.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import yaml

from contracts import cloudevents as ce
from contracts.base import ContractMessage
from contracts.catalog import CONSUMERS, PRODUCERS, compatibility, messages_on
from contracts.examples import all_examples
from contracts.topics import ALL_TOPICS, TopicSpec

DOC_PATH = Path(__file__).resolve().parents[2].parent / "docs" / "asyncapi.yaml"
BINDING = "0.5.0"


def _channel_id(topic: TopicSpec) -> str:
    head, *rest = topic.name.replace("-", ".").split(".")
    return head + "".join(part.capitalize() for part in rest)


def _topic_configuration(topic: TopicSpec) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in sorted(topic.configs.items()):
        if key == "cleanup.policy":
            out[key] = value.split(",")
        elif key.endswith((".ms", ".bytes")):
            out[key] = int(value)
        else:
            out[key] = value
    return out


def _headers(model: type[ContractMessage]) -> dict[str, Any]:
    text = {"type": "string"}
    return {
        "type": "object",
        "required": [*ce.REQUIRED, ce.H_CONTENT_TYPE],
        "properties": {
            ce.H_SPECVERSION: {**text, "const": ce.SPEC_VERSION},
            ce.H_ID: {**text, "description": "Unique per source; the same on every redelivery."},
            ce.H_SOURCE: {**text, "description": "/booking-platform/<service>"},
            ce.H_TYPE: {**text, "const": model.ce_type()},
            ce.H_TIME: {**text, "format": "date-time"},
            ce.H_SUBJECT: text,
            ce.H_PARTITIONKEY: {**text, "description": "The record key."},
            ce.H_TRACEPARENT: {**text, "description": "W3C trace context of the producer."},
            ce.H_CONTENT_TYPE: {**text, "const": ce.CONTENT_TYPE_JSON},
        },
    }


def _hoist(schema: dict[str, Any], shared: dict[str, Any], name: str) -> dict[str, Any]:
    """Move a model schema's ``$defs`` to ``components.schemas`` (shared by name) and point its
    references there."""
    schema = copy.deepcopy(schema)
    defs = schema.pop("$defs", {})
    for def_name, definition in defs.items():
        if def_name in shared and shared[def_name] != definition:
            raise ValueError(f"two different schemas are called {def_name} ({name})")
        shared[def_name] = definition
    text = json.dumps(schema).replace('"#/$defs/', '"#/components/schemas/')
    return dict(json.loads(text))


def document() -> dict[str, Any]:
    examples = all_examples()
    schemas: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for topic in ALL_TOPICS:
        is_dlq = topic.name.endswith(".dlq")
        primary = topic.name.removesuffix(".dlq")
        channel_id = _channel_id(topic)
        models = messages_on(next(t for t in ALL_TOPICS if t.name == primary))
        refs = {}
        for model in models:
            ce_type = model.ce_type()
            refs[ce_type] = {"$ref": f"#/components/messages/{ce_type}"}
            if ce_type in messages:
                continue
            payload = _hoist(model.model_json_schema(mode="serialization"), schemas, ce_type)
            schemas[ce_type] = payload
            doc = (model.__doc__ or "").strip()
            messages[ce_type] = {
                "name": ce_type,
                "title": model.__name__,
                "summary": doc.split("\n\n")[0].replace("\n", " ") if doc else ce_type,
                "contentType": ce.CONTENT_TYPE_JSON,
                "headers": _headers(model),
                "payload": {"$ref": f"#/components/schemas/{ce_type}"},
                "bindings": {
                    "kafka": {
                        "key": {"type": "string", "description": topic.key},
                        "bindingVersion": BINDING,
                    }
                },
                "examples": [
                    {
                        "name": "example",
                        "headers": {
                            ce.H_SPECVERSION: ce.SPEC_VERSION,
                            ce.H_ID: "0b9e3d7e-8a51-4c31-9a0e-5d3f1c2b4a60",
                            ce.H_SOURCE: f"/booking-platform/{PRODUCERS[primary].split(',')[0]}",
                            ce.H_TYPE: ce_type,
                            ce.H_TIME: "2026-12-01T10:15:30Z",
                            ce.H_CONTENT_TYPE: ce.CONTENT_TYPE_JSON,
                        },
                        "payload": examples[ce_type],
                    }
                ],
                "x-compatibility": compatibility(model).value,
            }
        description = topic.description
        if is_dlq:
            description += (
                " Records keep their headers and value; dlq_error, dlq_error_class, "
                "dlq_original_topic, dlq_original_partition, dlq_original_offset, dlq_consumer "
                "and dlq_failed_at headers say what went wrong."
            )
        channels[channel_id] = {
            "address": topic.name,
            "title": topic.name,
            "description": f"{description} Key: {topic.key}.",
            "messages": refs,
            "bindings": {
                "kafka": {
                    "topic": topic.name,
                    "partitions": topic.partitions,
                    "topicConfiguration": _topic_configuration(topic),
                    "bindingVersion": BINDING,
                }
            },
        }
        channel_messages = [
            {"$ref": f"#/channels/{channel_id}/messages/{ce_type}"} for ce_type in refs
        ]
        sender = "the consumer that gave up on them" if is_dlq else PRODUCERS[primary]
        receiver = "operators (inspect, redrive)" if is_dlq else CONSUMERS[primary]
        operations[f"send.{channel_id}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "summary": f"Sent by {sender}.",
            "messages": channel_messages,
        }
        operations[f"receive.{channel_id}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "summary": f"Received by {receiver}.",
            "messages": channel_messages,
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Booking platform messages",
            "version": version("booking-contracts"),
            "description": (
                "Every Kafka topic of the booking platform and the messages on it. Messages are "
                "CloudEvents 1.0 in Kafka binary content mode: attributes in ce_* headers, JSON "
                "data in the value, the aggregate id as the key (one booking's messages stay in "
                "order in one partition). Every message evolves with FULL compatibility (new "
                "fields are optional; readers ignore fields they do not know, so old and new "
                "builds share a topic during an upgrade); a breaking change is a new type "
                "version (x-compatibility on each message). Delivery is at least once: deduplicate by ce_source + ce_id."
            ),
        },
        "defaultContentType": ce.CONTENT_TYPE_JSON,
        "servers": {
            "local": {
                "host": "127.0.0.1:9092",
                "protocol": "kafka",
                "description": "The broker of `make run`; set KAFKA_BOOTSTRAP_SERVERS for yours.",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": dict(sorted(schemas.items()))},
    }


def render() -> str:
    return yaml.safe_dump(document(), sort_keys=False, allow_unicode=True, width=100)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail when the file is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not DOC_PATH.exists() or DOC_PATH.read_text() != text:
            print(f"{DOC_PATH} is stale: run `make asyncapi`", file=sys.stderr)
            return 1
        return 0
    DOC_PATH.write_text(text)
    print(f"wrote {DOC_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
