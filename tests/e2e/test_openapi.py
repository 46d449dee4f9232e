"""Every service serves its OpenAPI 3.1 document (a model that breaks generation fails here)."""

from __future__ import annotations

import json

import pytest

from devstack.client import PlatformClient
from devstack.openapi import path_of, unbounded_inputs
from devstack.platform import SERVICES

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("service", list(SERVICES))
def test_the_service_serves_its_openapi_document(client: PlatformClient, service: str) -> None:
    response = client.http.get(f"{client.urls[service]}/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.1")
    assert all(path.startswith("/api/v1/") for path in document["paths"])


@pytest.mark.parametrize("service", list(SERVICES))
def test_the_served_document_is_the_committed_one(client: PlatformClient, service: str) -> None:
    """docs/api holds what the gateway team builds against; `make openapi` refreshes it."""
    served = client.http.get(f"{client.urls[service]}/api/v1/openapi.json").json()
    committed = json.loads(path_of(service).read_text())
    assert served == committed, f"docs/api/{service}.openapi.json is stale: run `make openapi`"


def test_every_input_the_committed_documents_take_is_bounded() -> None:
    """Every string, list and map an operation takes (path, query, header, body) states its
    bound, so the gateway team can rely on it and the service holds it (422 past it)."""
    unbounded = {s: unbounded_inputs(json.loads(path_of(s).read_text())) for s in SERVICES}
    assert not any(unbounded.values()), json.dumps(unbounded, indent=1)
