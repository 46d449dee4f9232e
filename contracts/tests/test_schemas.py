"""Committed JSON Schemas are what the models generate: change a model, regenerate, review."""

from __future__ import annotations

import json

from contracts.generate import SCHEMA_DIR, render
from contracts.registry import REGISTRY
from contracts.topics import ALL_TOPICS, PRIMARY_TOPICS


def test_committed_schemas_match_the_models() -> None:
    rendered = render()
    committed = {p.name: p.read_text() for p in SCHEMA_DIR.glob("*.json")}
    assert sorted(committed) == sorted(rendered), "run `make schemas`"
    for name, text in rendered.items():
        assert committed[name] == text, f"{name} is stale: run `make schemas`"


def test_every_type_is_versioned_and_unique() -> None:
    assert all(t.rsplit(".", 1)[1].startswith("v") for t in REGISTRY)
    assert len(REGISTRY) == len({m.__name__ for m in REGISTRY.values()})


def test_money_travels_as_a_decimal_string() -> None:
    schema = json.loads(render()["pricing.BookingPriced.v1.json"])
    money = schema["$defs"]["Money"]["properties"]["amount"]
    assert money["type"] == "string"


def test_every_topic_has_a_dead_letter_twin() -> None:
    names = {t.name for t in ALL_TOPICS}
    assert all(f"{t.name}.dlq" in names for t in PRIMARY_TOPICS)
