"""The AsyncAPI document: committed = generated, valid against the AsyncAPI 3.0.0 JSON Schema
published by the specification (``@asyncapi/specs``, fetched by the bootstrap), every reference
resolves, every topic and message is described, and every example matches its payload schema."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

from contracts.asyncapi import DOC_PATH, document, render
from contracts.registry import REGISTRY
from contracts.topics import ALL_TOPICS

SPECS_VERSION = "6.11.1"  # the same pin as scripts/bootstrap.sh
SPEC = (
    Path(__file__).resolve().parents[2]
    / ".cache"
    / f"asyncapi-specs-{SPECS_VERSION}"
    / "node_modules/@asyncapi/specs/schemas/3.0.0-without-$id.json"
)


@pytest.fixture(scope="module")
def validator() -> Draft7Validator:
    assert SPEC.exists(), f"{SPEC} is missing: run `make bootstrap`"
    return Draft7Validator(json.loads(SPEC.read_text()))


def test_the_committed_document_is_the_generated_one() -> None:
    assert DOC_PATH.read_text() == render(), "run `make asyncapi`"


def test_the_document_is_valid_asyncapi_3(validator: Draft7Validator) -> None:
    doc = yaml.safe_load(DOC_PATH.read_text())
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(doc)]
    assert errors == []


def test_the_validator_would_notice_a_broken_document(validator: Draft7Validator) -> None:
    doc = copy.deepcopy(document())
    channel = next(iter(doc["channels"].values()))
    channel["bindings"]["kafka"]["partitions"] = 0
    del doc["operations"][next(iter(doc["operations"]))]["action"]
    assert len(list(validator.iter_errors(doc))) >= 2


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_every_reference_resolves() -> None:
    doc = document()
    for ref in _refs(doc):
        assert ref.startswith("#/"), ref
        node: Any = doc
        for part in ref[2:].split("/"):
            assert part in node, ref
            node = node[part]


def test_every_topic_and_message_is_described_with_its_kafka_facts() -> None:
    doc = document()
    by_address = {c["address"]: c for c in doc["channels"].values()}
    assert set(by_address) == {t.name for t in ALL_TOPICS}
    for topic in ALL_TOPICS:
        kafka = by_address[topic.name]["bindings"]["kafka"]
        assert kafka["partitions"] == topic.partitions
        assert kafka["topicConfiguration"]["retention.ms"] == int(topic.configs["retention.ms"])
    on_primary = [
        m
        for c in doc["channels"].values()
        if not c["address"].endswith(".dlq")
        for m in c["messages"]
    ]
    assert sorted(on_primary) == sorted(REGISTRY)  # each type on exactly one topic
    for ce_type, message in doc["components"]["messages"].items():
        assert message["headers"]["properties"]["ce_type"]["const"] == ce_type
        assert message["bindings"]["kafka"]["key"]["description"]
        assert message["x-compatibility"] in ("FULL", "BACKWARD")


def test_every_example_matches_its_payload_schema() -> None:
    doc = document()
    for ce_type, message in doc["components"]["messages"].items():
        root = {"$ref": message["payload"]["$ref"], "components": doc["components"]}
        for example in message["examples"]:
            errors = [e.message for e in Draft7Validator(root).iter_errors(example["payload"])]
            assert errors == [], ce_type
            headers = {"components": {}, **message["headers"]}
            assert list(Draft7Validator(headers).iter_errors(example["headers"])) == [], ce_type
