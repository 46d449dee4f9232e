"""The images, built with podman, and the chart's rendered manifests run as containers of them
(tests/support/kube.py) against a real Kafka (SASL_SSL, SCRAM, ACLs) and a real Postgres
(TLS, verify-full): the topic and migration hooks succeed, every probe path answers, a booking
made through the containerised APIs is confirmed and announced on booking.events, ``helm
test`` passes and bpctl works in the toolbox without a checkout.

This is what catches a dependency missing from an image, a URL the driver refuses, a command
that is not on PATH or a probe that 404s: nothing here runs from the source tree."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from contracts.topics import BOOKING_EVENTS
from devstack import images
from devstack.client import PlatformClient, booking_body
from devstack.kafka import ADMIN, KafkaBroker
from devstack.platform import KAFKA_PRINCIPALS, SERVICES
from devstack.postgres import EmbeddedPostgres, debian_bin_dir
from devstack.procs import free_ports
from devstack.tls import LocalCA
from devstack.tokens import AUDIENCE, ISSUER, sign_token
from tests.support.kafka import records_of
from tests.support.kube import Cluster, ports_taken, render

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500)]
RELEASE = "bp"
FULLNAME = f"{RELEASE}-booking-platform"


@dataclass
class Release:
    cluster: Cluster
    kafka: KafkaBroker
    hooks_s: dict[str, float]
    ready_s: dict[str, float]
    build: list[images.Built]
    workdir: Path
    saga_s: float | None = None  # the containerised booking's, for the figures

    def token(self, tenant: str = "acme") -> str:
        key = self.cluster.secrets[f"{FULLNAME}-token-signer"]["signing-key"]
        return sign_token(
            load_pem_private_key(key, password=None),
            tenant=tenant,
            roles=("admin",),
            issuer=ISSUER,
            audience=AUDIENCE,
        )


def _values(kafka: KafkaBroker, pg: EmbeddedPostgres) -> dict:
    principals = {
        s: {"username": s, "secret": f"kafka-{s}", "passwordKey": "password"} for s in SERVICES
    }
    principals["topics"] = {
        "username": ADMIN,
        "secret": f"kafka-{ADMIN}",
        "passwordKey": "password",
    }
    return {
        "image": {"registry": "localhost"},
        # The test cards confirm bookings: a development install (production refuses them).
        "profile": "development",
        "payment": {"testMethodsEnabled": True},
        "kafka": {
            "bootstrapServers": kafka.bootstrap,
            "replicationFactor": 1,
            "securityProtocol": "SASL_SSL",
            "saslMechanism": "SCRAM-SHA-512",
            "caSecret": "kafka-ca",
            "applyAcls": True,
            "principals": principals,
        },
        "postgres": {
            # verify-full checks the name in the server's certificate: "localhost".
            "host": "localhost",
            "port": pg.port,
            "sslmode": "verify-full",
            "caSecret": "postgres-ca",
            "credentials": {
                s: {
                    "database": s,
                    "username": f"{s}_app",
                    "password": "",
                    "ownerUsername": "postgres",
                }
                for s in SERVICES
            },
        },
        "toolbox": {"enabled": True},
    }


@pytest.fixture(scope="module")
def release() -> Iterator[Release]:
    why = images.available()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"the container tests must run in CI: {why}")
        pytest.skip(why)
    busy = ports_taken(SERVICES.values())
    assert not busy, f"the chart's web ports {busy} are taken here (is `make run` up?)"
    build = images.build_all()
    workdir = Path(tempfile.mkdtemp(prefix="booking-containers-", dir="/var/tmp"))
    workdir.chmod(0o755)
    ca = LocalCA(workdir / "ca").ensure()
    bin_dir = debian_bin_dir()
    assert bin_dir, "Debian's postgresql (with TLS) is needed: scripts/bootstrap.sh installs it"
    pg_port, kafka_port, controller_port = free_ports(3)
    pg = EmbeddedPostgres(
        workdir / "pg", pg_port, workdir / "postgres.log", fsync=False, tls=ca, bin_dir=bin_dir
    )
    kafka = KafkaBroker(
        workdir / "kafka", kafka_port, controller_port, ca=ca, principals=KAFKA_PRINCIPALS
    )
    env = pytest.MonkeyPatch()
    pg.start()
    try:
        for service in SERVICES:
            pg.create_database(service)
            pg.create_app_role(service)
        kafka.start()
        # This process's Kafka clients (records_of) speak as the admin, as with the platform.
        for name, value in kafka.client_env(ADMIN).items():
            env.setenv(name, value)
        passwords = kafka.passwords()
        secrets = {f"kafka-{p}": {"password": passwords[p]} for p in (*SERVICES, ADMIN)}
        secrets |= {
            "kafka-ca": {"ca.crt": ca.cert.read_text()},
            "postgres-ca": {"ca.crt": ca.cert.read_text()},
        }
        cluster = Cluster(render(_values(kafka, pg), workdir, RELEASE), workdir, secrets)
        with images.PodmanService(workdir) as podman, podman.environment():
            try:
                hooks_s = cluster.install_hooks()
                cluster.start_deployments()
                ready_s = cluster.wait_probes()
                yield Release(cluster, kafka, hooks_s, ready_s, build, workdir)
            finally:
                cluster.delete()
    finally:
        env.undo()
        kafka.stop()
        pg.stop()
    shutil.rmtree(workdir, ignore_errors=True)


def test_the_hooks_made_the_topics_and_the_schemas(release: Release) -> None:
    names = set(release.hooks_s)
    assert f"{FULLNAME}-topics" in names
    assert {f"{FULLNAME}-{s}-migrate" for s in SERVICES} <= names
    # Deleted once they succeeded, as helm deletes them: the services never needed them.
    assert f"{FULLNAME}-hooks" not in release.cluster.secrets


def test_every_probe_path_of_every_deployment_answers(release: Release) -> None:
    probes = release.cluster.probes()
    deployments = {
        d["metadata"]["name"]
        for d in release.cluster.of_kind("Deployment")
        if "booking-platform/role" in d["spec"]["template"]["metadata"]["labels"]
    }
    assert len(deployments) == 2 * len(SERVICES)  # a web and a worker each
    assert {p[0] for p in probes} == deployments  # the toolbox has none
    assert {(p[1], p[3]) for p in probes} == {
        ("startupProbe", "/healthz"),
        ("livenessProbe", "/healthz"),
        ("readinessProbe", "/readyz"),
    }
    assert set(release.ready_s) == deployments  # wait_probes saw every one answer 200


def test_a_booking_through_the_containerised_services_is_confirmed(release: Release) -> None:
    urls = {s: f"http://127.0.0.1:{p}" for s, p in SERVICES.items()}
    client = PlatformClient(urls, token=release.token())
    try:
        resource = client.create_resource("Containerised cottage", capacity=1)
        client.create_rate_plan(resource["id"], "120.00", "EUR")
        started = time.monotonic()
        response = client.book(
            booking_body(resource["id"], date.today() + timedelta(days=40), 2), wait=30
        )
        assert response.status_code in (200, 201, 202), response.text
        booking = client.wait_terminal(response.json()["id"], timeout=90)
        took = time.monotonic() - started
    finally:
        client.close()
    assert booking["status"] == "confirmed", booking
    assert booking["total"] == {"amount": "264.00", "currency": "EUR"}  # 2 × 120.00 + 10 % tax
    records = asyncio.run(
        records_of(release.kafka.bootstrap, BOOKING_EVENTS, booking["id"], want=2, timeout=60)
    )
    types = [dict(r.headers)["ce_type"].decode() for r in records]
    assert types == ["booking.created.v1", "booking.confirmed.v1"], types
    release.saga_s = took


def test_the_operations_guide_first_booking_as_written(release: Release) -> None:
    """docs/OPERATIONS.md, "A first install" step 7: the token minted by bpctl in the toolbox,
    the issue-2 rate-plan body, a bank transfer (what production allows) awaiting payment."""
    key = release.cluster.secrets[f"{FULLNAME}-token-signer"]["signing-key"].decode()
    code, token = release.cluster.exec(
        f"{FULLNAME}-toolbox",
        [
            "sh",
            "-c",
            f"printf '%s' '{key}' > /tmp/key.pem && "
            "bpctl token --signing-key /tmp/key.pem --tenant acme --role admin",
        ],
    )
    assert code == 0, token
    headers = {"Authorization": f"Bearer {token.strip()}"}
    with httpx.Client(headers=headers, timeout=15) as http:
        resource = http.post(
            "http://localhost:8001/api/v1/resources",
            json={
                "name": "Sea view room",
                "booking_mode": "nightly",
                "capacity": 1,
                "timezone": "Europe/Lisbon",
            },
        )
        assert resource.status_code == 201, resource.text
        rid = resource.json()["id"]
        plan = http.post(
            "http://localhost:8002/api/v1/rate-plans",
            json={"resource_id": rid, "currency": "EUR", "nightly_rate": "120.00"},
        )
        assert plan.status_code == 201, plan.text
        booking = http.post(
            "http://localhost:8000/api/v1/bookings",
            headers={"Prefer": "wait=10", "Idempotency-Key": f"first-{rid}"},
            json={
                "resource_id": rid,
                "check_in": "2027-06-01",
                "check_out": "2027-06-03",
                "party": {"adults": 2},
                "payment_method": "bank_transfer",
                "guest": {"name": "Ana", "email": "ana@example.com", "phone": "+351912345678"},
            },
        )
    assert booking.status_code in (200, 201, 202), booking.text  # 202: not terminal yet
    assert booking.json()["status"] == "awaiting_payment", booking.json()
    assert booking.json()["total"] == {"amount": "240.00", "currency": "EUR"}  # per night, no tax


def test_helm_test_passes(release: Release) -> None:
    outputs = release.cluster.run_test_hooks()
    (output,) = outputs.values()
    assert "smoke check passed" in output, output
    assert "confirmed" in output and "cancelled" in output


def test_bpctl_runs_in_the_toolbox_from_the_release_secrets(release: Release) -> None:
    code, output = release.cluster.exec(f"{FULLNAME}-toolbox", ["bpctl", "outbox", "status"])
    assert code == 0, output
    for service in SERVICES:
        assert service in output
    code, output = release.cluster.exec(f"{FULLNAME}-toolbox", ["bpctl", "topics", "describe"])
    assert code == 0, output
    assert BOOKING_EVENTS.name in output


def test_the_images_are_those_the_chart_names(release: Release) -> None:
    named = {
        c["image"]
        for o in release.cluster.objects
        if o["kind"] in ("Deployment", "Job", "Pod")
        for c in (o["spec"].get("template", {}).get("spec") or o["spec"])["containers"]
    }
    assert named <= {b.tag for b in release.build}
    # The figures (pytest -s shows them): images, hooks, readiness, the booking's saga.
    for built in release.build:
        print(f"{built.tag}: {built.size / 1e6:.0f} MB, built in {built.seconds:.1f}s")
    print(f"hooks: {json.dumps({k: round(v, 1) for k, v in release.hooks_s.items()})}")
    print(f"all probes answering after {max(release.ready_s.values()):.1f}s")
    print(f"booking confirmed {release.saga_s}s after its POST")
