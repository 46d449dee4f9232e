"""The OpenAPI compatibility gate: the committed documents keep the released contract, and the
checker finds each kind of break (and lets through what does not break a client)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from devstack.openapi import path_of
from devstack.openapi_compat import baseline_of, breaks, check
from devstack.platform import SERVICES


def test_the_committed_documents_keep_the_released_contract() -> None:
    found = check()
    assert not any(found.values()), json.dumps(found, indent=1)


@pytest.fixture
def doc() -> dict[str, Any]:
    return json.loads(baseline_of("pricing").read_text())


def _schema(doc: dict[str, Any], name: str) -> dict[str, Any]:
    schema: dict[str, Any] = doc["components"]["schemas"][name]
    return schema


def test_an_unchanged_or_extended_document_breaks_nothing(doc: dict[str, Any]) -> None:
    new = copy.deepcopy(doc)
    assert breaks(doc, new) == []
    new["paths"]["/api/v1/new-thing"] = {"get": {"responses": {"200": {"description": "ok"}}}}
    _schema(new, "RatePlanPublic")["properties"]["colour"] = {"type": "string"}
    _schema(new, "RatePlanCreate")["properties"]["colour"] = {"type": "string", "maxLength": 9}
    assert breaks(doc, new) == []


def test_a_removed_operation_parameter_or_status_breaks(doc: dict[str, Any]) -> None:
    new = copy.deepcopy(doc)
    del new["paths"]["/api/v1/rate-plans/{plan_id}"]["delete"]
    new["paths"]["/api/v1/rate-plans"]["get"]["parameters"] = [
        p for p in new["paths"]["/api/v1/rate-plans"]["get"]["parameters"] if p["name"] != "limit"
    ]
    del new["paths"]["/api/v1/rate-plans"]["post"]["responses"]["201"]
    found = breaks(doc, new)
    assert "DELETE /api/v1/rate-plans/{plan_id}: removed" in found
    assert "GET /api/v1/rate-plans query limit: removed" in found
    assert "POST /api/v1/rate-plans 201: no longer answered" in found


def test_a_response_field_removed_or_no_longer_always_present_breaks(doc: dict[str, Any]) -> None:
    new = copy.deepcopy(doc)
    public = _schema(new, "RatePlanPublic")
    del public["properties"]["nightly_rate"]
    public["required"] = [r for r in public["required"] if r not in ("nightly_rate", "currency")]
    found = breaks(doc, new)
    assert "GET /api/v1/rate-plans/{plan_id} 200.nightly_rate: removed" in found
    assert "GET /api/v1/rate-plans/{plan_id} 200.currency: no longer always present" in found


def test_a_request_field_removed_newly_required_or_narrowed_breaks(doc: dict[str, Any]) -> None:
    new = copy.deepcopy(doc)
    create = _schema(new, "RatePlanCreate")
    del create["properties"]["nightly_rate"]
    create["required"] = [*create.get("required", []), "name"]
    create["properties"]["basis"]["enum"] = ["per_night"]
    create["properties"]["name"]["maxLength"] = 20
    found = breaks(doc, new)
    at = "POST /api/v1/rate-plans body"
    assert f"{at}.nightly_rate: removed" in found
    assert f"{at}.name: required now" in found
    assert f"{at}.name: maxLength 200 became 20" in found
    assert any(f.startswith(f"{at}.basis: no longer accepts") for f in found), found


@pytest.mark.parametrize("service", list(SERVICES))
def test_the_baseline_is_a_document_of_each_service(service: str) -> None:
    old = json.loads(baseline_of(service).read_text())
    assert old["openapi"].startswith("3.1") and old["paths"]
    assert json.loads(path_of(service).read_text())["info"]["title"] == old["info"]["title"]
