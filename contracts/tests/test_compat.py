"""Schema evolution: the contracts stay compatible with the committed baseline (the last
release), and the check catches each kind of breaking change (shown on altered copies)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from contracts.compat import baseline, check, current
from contracts.examples import all_examples
from contracts.registry import REGISTRY

EVENT = "booking.confirmed.v1"
COMMAND = "inventory.ReserveCapacity.v1"


def test_the_contracts_are_compatible_with_the_last_release() -> None:
    violations = check(*baseline(), *current())
    assert violations == [], "\n".join(violations)


def test_every_type_has_a_valid_example() -> None:
    examples = all_examples()
    assert sorted(examples) == sorted(REGISTRY)
    for ce_type, data in examples.items():
        REGISTRY[ce_type].model_validate(data)


@pytest.fixture
def now() -> tuple[dict[str, Any], dict[str, Any]]:
    schemas, examples = current()
    return copy.deepcopy(schemas), copy.deepcopy(examples)


def violations(schemas: dict[str, Any], examples: dict[str, Any]) -> list[str]:
    return check(*baseline(), schemas, examples)


def test_an_optional_field_added_to_an_event_is_compatible(now: Any) -> None:
    schemas, examples = now
    schemas[EVENT]["properties"]["loyalty_tier"] = {"type": "string"}
    examples[EVENT]["loyalty_tier"] = "gold"
    assert violations(schemas, examples) == []


def test_a_new_required_field_breaks(now: Any) -> None:
    schemas, examples = now
    schemas[EVENT]["properties"]["loyalty_tier"] = {"type": "string"}
    schemas[EVENT]["required"].append("loyalty_tier")
    found = violations(schemas, examples)
    assert any("loyalty_tier: became required" in v for v in found)
    assert any("baseline example no longer validates" in v for v in found)


def test_a_removed_field_breaks(now: Any) -> None:
    schemas, examples = now
    del schemas[EVENT]["properties"]["payment_id"]
    schemas[EVENT]["required"].remove("payment_id")
    found = violations(schemas, examples)
    assert f"{EVENT}.payment_id: removed" in found
    assert any("no longer required" in v for v in found)  # old consumers expect it


def test_a_changed_type_breaks_even_deep_inside(now: Any) -> None:
    schemas, examples = now
    schemas[EVENT]["properties"]["booking_version"] = {"type": "string"}
    money = schemas[EVENT]["$defs"]["Money"]["properties"]
    money["currency"]["pattern"] = "^[A-Z]{4}$"
    found = violations(schemas, examples)
    assert any(v.startswith(f"{EVENT}.booking_version: changed") for v in found)
    assert any(v.startswith(f"{EVENT}.total.currency: changed") for v in found)


def test_a_type_that_disappears_breaks(now: Any) -> None:
    schemas, examples = now
    del schemas[EVENT]
    assert any("the type disappeared" in v for v in violations(schemas, examples))


def test_optional_where_it_was_required_breaks_events_and_commands_alike(now: Any) -> None:
    """Old and new builds of a participant share its command topic during an upgrade: an old
    build still expects what the new producer may now leave out."""
    schemas, examples = now
    schemas[EVENT]["required"].remove("payment_id")
    schemas[COMMAND]["required"].remove("resource_id")
    found = violations(schemas, examples)
    assert f"{EVENT}.payment_id: no longer required (older consumers expect it)" in found
    assert f"{COMMAND}.resource_id: no longer required (older consumers expect it)" in found


def test_an_optional_field_added_to_a_command_is_compatible(now: Any) -> None:
    """Every message is a tolerant reader: an old consumer ignores the new field."""
    schemas, examples = now
    schemas[COMMAND]["properties"]["priority"] = {"type": "integer"}
    examples[COMMAND]["priority"] = 2
    assert violations(schemas, examples) == []
    REGISTRY[COMMAND].model_validate(examples[COMMAND])  # and the model reads it


def test_a_field_added_where_the_last_release_refused_unknown_fields_breaks(now: Any) -> None:
    """A baseline whose value object was strict (as before every message became a tolerant
    reader): a field added to it breaks the consumers of that release."""
    schemas, examples = now
    old_schemas, old_examples = copy.deepcopy(baseline())
    old_schemas[EVENT]["$defs"]["Money"]["additionalProperties"] = False
    schemas[EVENT]["$defs"]["Money"]["properties"]["minor_units"] = {"type": "integer"}
    examples[EVENT]["total"]["minor_units"] = 45000
    found = check(old_schemas, old_examples, schemas, examples)
    assert any("total: added minor_units" in v for v in found)
    assert any("older consumers would refuse the current example" in v for v in found)
