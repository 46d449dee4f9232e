"""The Helm chart, rendered and checked offline with the real helm binary (built from the Go
module proxy by the bootstrap): it lints strictly, renders, and every process runs with the
restricted Pod Security profile, the recommended labels and the right probes."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from devstack.kafka import REPO_ROOT
from service_kit.main import SERVICES

HELM = REPO_ROOT / ".cache" / "helm-v3.16.3" / "helm"
CHART = REPO_ROOT / "deploy" / "helm" / "booking-platform"
KUBE = "1.31.0"


def helm(*args: str) -> str:
    assert HELM.exists(), f"{HELM} is missing: run `make bootstrap`"
    done = subprocess.run(
        [str(HELM), *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def render(*values: Path, sets: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    args = ["template", "bp", str(CHART), "--kube-version", KUBE]
    for v in values:
        args += ["-f", str(v)]
    for s in sets:
        args += ["--set", s]
    return [d for d in yaml.safe_load_all(helm(*args)) if d]


@pytest.fixture(scope="module")
def manifests() -> list[dict[str, Any]]:
    return render()


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def test_the_chart_lints_strictly() -> None:
    assert "0 chart(s) failed" in helm("lint", "--strict", str(CHART), "--kube-version", KUBE)


def test_each_service_has_a_web_and_a_worker_and_its_web_a_service(
    manifests: list[dict[str, Any]],
) -> None:
    names = {d["metadata"]["name"] for d in of_kind(manifests, "Deployment")}
    assert names == {f"bp-booking-platform-{s}-{r}" for s in SERVICES for r in ("web", "worker")}
    services = {d["metadata"]["name"] for d in of_kind(manifests, "Service")}
    assert services == {f"bp-booking-platform-{s}-web" for s in SERVICES}
    relays = render(sets=("services.booking.relay.enabled=true",))
    worker = next(
        d for d in of_kind(relays, "Deployment") if d["metadata"]["name"].endswith("booking-worker")
    )
    env = {
        e["name"]: e.get("value")
        for e in worker["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["BOOKING_RELAY_EMBEDDED"] == "false"  # the relay runs on its own then
    assert any(
        d["metadata"]["name"].endswith("booking-relay") for d in of_kind(relays, "Deployment")
    )


def test_every_pod_meets_the_restricted_pod_security_standard(
    manifests: list[dict[str, Any]],
) -> None:
    for deployment in of_kind(manifests, "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert pod["automountServiceAccountToken"] is False
        for container in pod["containers"]:
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert container["resources"]["requests"] and container["resources"]["limits"]


def test_recommended_labels_and_selectors(manifests: list[dict[str, Any]]) -> None:
    for doc in manifests:
        labels = doc["metadata"]["labels"]
        for key in ("name", "instance", "version", "managed-by", "part-of"):
            assert f"app.kubernetes.io/{key}" in labels, (doc["metadata"]["name"], key)
    for deployment in of_kind(manifests, "Deployment"):
        selector = deployment["spec"]["selector"]["matchLabels"]
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= pod_labels.items()


def test_liveness_never_asks_dependencies_and_readiness_does(
    manifests: list[dict[str, Any]],
) -> None:
    for deployment in of_kind(manifests, "Deployment"):
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        if deployment["metadata"]["name"].endswith("-web"):
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_secrets_come_from_secrets_and_existing_ones_are_used(
    manifests: list[dict[str, Any]],
) -> None:
    own = render(
        sets=(
            "postgres.existingSecret=db",
            "auth.existingSecret=jwt",
            "payment.existingSecret=pay",
        )
    )
    assert of_kind(own, "Secret") == []
    web = next(
        d for d in of_kind(own, "Deployment") if d["metadata"]["name"].endswith("payment-web")
    )
    refs = {
        e["name"]: e["valueFrom"]["secretKeyRef"]["name"]
        for e in web["spec"]["template"]["spec"]["containers"][0]["env"]
        if "valueFrom" in e
    }
    assert refs == {
        "PAYMENT_DATABASE_URL": "db",
        "AUTH_JWKS": "jwt",
        "PAYMENT_SIM_WEBHOOK_SECRET": "pay",
    }
