"""Every service serves its OpenAPI 3.1 document (a model that breaks generation fails here)."""

from __future__ import annotations

import pytest

from devstack.client import PlatformClient
from devstack.platform import SERVICES

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("service", list(SERVICES))
def test_the_service_serves_its_openapi_document(client: PlatformClient, service: str) -> None:
    response = client.http.get(f"{client.urls[service]}/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.1")
    assert all(path.startswith("/api/v1/") for path in document["paths"])
