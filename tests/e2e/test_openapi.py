"""Every service serves its OpenAPI 3.1 document (a model that breaks generation fails here)."""

from __future__ import annotations

import json
import re

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


@pytest.mark.parametrize("service", list(SERVICES))
def test_the_api_pages_load_nothing_from_outside_the_service(
    client: PlatformClient, service: str
) -> None:
    """``/docs`` and ``/redoc`` work air-gapped: every script, style and icon they name is the
    service's own, and answers."""
    base = client.urls[service]
    for page in ("/docs", "/redoc"):
        answer = client.http.get(f"{base}{page}")
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
        named = re.findall(r"""(?:src|href)=["']([^"']+)["']""", answer.text)
        assert named, answer.text
        assert not [u for u in named if not u.startswith("/")], named
        assert "cdn." not in answer.text and "fonts.googleapis" not in answer.text
        assert "/api/v1/openapi.json" in answer.text
        if page == "/docs":
            assert '"validatorUrl": null' in answer.text  # no badge fetched from swagger.io
        for url in named:
            asset = client.http.get(f"{base}{url}")
            assert asset.status_code == 200, url
            assert len(asset.content) > 1000, url
