"""The Helm chart, rendered and checked offline with the real helm binary (built from the Go
module proxy by the bootstrap): it lints strictly, renders, and every process runs with the
restricted Pod Security profile, the recommended labels and the right probes."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from contracts.topics import ALL_TOPICS
from devstack.kafka import REPO_ROOT
from messaging.kafka import durable_configs
from service_kit.main import SERVICES

HELM = REPO_ROOT / ".cache" / "helm-v3.16.3" / "helm"
CHART = REPO_ROOT / "deploy" / "helm" / "booking-platform"
KUBE = "1.31.0"
CI_VALUES = sorted((CHART / "ci").glob("*.yaml"))
STRIMZI_MODELS = REPO_ROOT / ".cache" / "strimzi-models-1.0.1" / "node_modules"
PLATFORM = yaml.safe_load((CHART / "files" / "platform.yaml").read_text())


def helm(*args: str, ok: bool = True) -> str:
    assert HELM.exists(), f"{HELM} is missing: run `make bootstrap`"
    done = subprocess.run(
        [str(HELM), *args], capture_output=True, text=True, timeout=120, check=False
    )
    if not ok:
        assert done.returncode != 0, "helm accepted what it should refuse"
        return done.stderr
    assert done.returncode == 0, done.stderr
    return done.stdout


def refusal(*sets: str) -> str:
    """What helm says when it refuses to render with these values."""
    args = ["template", "bp", str(CHART), "--kube-version", KUBE]
    for s in sets:
        args += ["--set", s]
    return helm(*args, ok=False)


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


def named(docs: list[dict[str, Any]], kind: str, suffix: str) -> list[dict[str, Any]]:
    """The objects of ``kind`` whose name ends with ``suffix``."""
    return [d for d in of_kind(docs, kind) if d["metadata"]["name"].endswith(suffix)]


@pytest.mark.parametrize("values", [None, *CI_VALUES], ids=lambda v: v.name if v else "default")
def test_the_chart_lints_strictly_and_renders_valid_kubernetes(values: Path | None) -> None:
    """Default values and every ci/*.yaml: lint --strict, then each rendered object against the
    Kubernetes 1.31 OpenAPI schemas (kubernetes-validate --strict: an unknown field fails) and
    every KafkaTopic against Strimzi's CRD schema."""
    import kubernetes_validate

    extra = ["-f", str(values)] if values else []
    assert "0 chart(s) failed" in helm(
        "lint", "--strict", str(CHART), "--kube-version", KUBE, *extra
    )
    docs = render(*([values] if values else []))
    topics = []
    for doc in docs:
        group = doc["apiVersion"].split("/")[0]
        if group == "kafka.strimzi.io":
            topics.append(doc)
        elif group != "monitoring.coreos.com":  # the Prometheus Operator's CRD: not in the set
            kubernetes_validate.validate(doc, KUBE, strict=True)
    if topics:
        assert_valid_kafka_topics(topics)


def assert_valid_kafka_topics(topics: list[dict[str, Any]]) -> None:
    assert STRIMZI_MODELS.exists(), f"{STRIMZI_MODELS} is missing: run `make bootstrap`"
    done = subprocess.run(
        ["node", str(Path(__file__).with_name("kafkatopic_validate.mjs")), str(STRIMZI_MODELS)],
        input=json.dumps(topics),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_validators_refuse_what_is_wrong(manifests: list[dict[str, Any]]) -> None:
    """The checks above can fail: a misspelt field and a zero-partition topic are caught."""
    import kubernetes_validate

    deployment = copy.deepcopy(of_kind(manifests, "Deployment")[0])
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGett"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBE, strict=True)
    topic = of_kind(render(sets=("kafka.topics=strimzi",)), "KafkaTopic")[0]
    topic["spec"]["partitions"] = 0
    with pytest.raises(AssertionError, match="partitions must be >= 1"):
        assert_valid_kafka_topics([topic])


def test_unknown_values_are_refused() -> None:
    """values.schema.json: a typo is an error, not a silently ignored setting."""
    for bad in ("kafka.brokers=x:9092", "services.booking.web.replica=3", "ingres.enabled=true"):
        err = helm("template", "bp", str(CHART), "--kube-version", KUBE, "--set", bad, ok=False)
        assert "Additional property" in err, err
    err = refusal("kafka.bootstrapServers=no-port")
    assert "bootstrapServers" in err


def test_topics_match_the_contracts() -> None:
    """Strimzi mode: one KafkaTopic per declared topic (and dead-letter twin), with the
    partitions and configs the code declares; they outlive the release."""
    topics = {
        d["spec"]["topicName"]: d
        for d in of_kind(render(sets=("kafka.topics=strimzi",)), "KafkaTopic")
    }
    assert set(topics) == {t.name for t in ALL_TOPICS}
    for spec in ALL_TOPICS:
        doc = topics[spec.name]
        assert doc["spec"]["partitions"] == spec.partitions
        assert doc["spec"]["config"].items() >= spec.configs.items()
        # The same durability the topics Job gives its topics (messaging.kafka.durable_configs).
        assert doc["spec"]["config"].items() >= durable_configs(spec, 3).items()
        assert doc["metadata"]["labels"]["strimzi.io/cluster"] == "kafka"
        assert doc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    job_mode = render()
    assert of_kind(job_mode, "KafkaTopic") == []
    job = next(d for d in of_kind(job_mode, "Job") if d["metadata"]["name"].endswith("-topics"))
    assert job["spec"]["template"]["spec"]["containers"][0]["command"][0] == "booking-topics"


def test_hooks_create_topics_then_migrate_under_the_advisory_lock(
    manifests: list[dict[str, Any]],
) -> None:
    jobs = {d["metadata"]["name"]: d for d in of_kind(manifests, "Job")}
    weight = {n: int(j["metadata"]["annotations"]["helm.sh/hook-weight"]) for n, j in jobs.items()}
    topics = "bp-booking-platform-topics"
    for service in SERVICES:
        job = jobs[f"bp-booking-platform-{service}-migrate"]
        notes = job["metadata"]["annotations"]
        assert notes["helm.sh/hook"] == "pre-install,pre-upgrade"
        assert weight[job["metadata"]["name"]] > weight[topics]
        container = job["spec"]["template"]["spec"]["containers"][0]
        assert container["command"] == [f"{service}-migrate"]
        assert job["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    # The Jobs run before the release's Secret exists: their URLs come from a hook Secret made
    # just before them, or from the operator's own Secret.
    hook_secret = next(
        d for d in of_kind(manifests, "Secret") if d["metadata"]["name"].endswith("-hooks")
    )
    assert int(hook_secret["metadata"]["annotations"]["helm.sh/hook-weight"]) < min(weight.values())
    own = render(sets=("postgres.existingSecret=db",))
    assert not [d for d in of_kind(own, "Secret") if d["metadata"]["name"].endswith("-hooks")]
    job = next(d for d in of_kind(own, "Job") if d["metadata"]["name"].endswith("-booking-migrate"))
    ref = job["spec"]["template"]["spec"]["containers"][0]["env"][0]["valueFrom"]
    assert ref["secretKeyRef"]["name"] == "db"


def test_workers_never_outnumber_their_partitions() -> None:
    """A consumer group member without a partition idles: the chart refuses such counts, for
    fixed replicas and for an autoscaler's maximum alike."""
    most = PLATFORM["workers"]["booking"]["maxReplicas"]
    assert most == max(  # beyond the partitions of its widest topic, a member has no work
        t.partitions for t in ALL_TOPICS if t.name in PLATFORM["workers"]["booking"]["topics"]
    )
    for bad in (
        (f"services.booking.worker.replicas={most + 1}",),
        (
            "services.booking.worker.autoscaling.enabled=true",
            f"services.booking.worker.autoscaling.maxReplicas={most + 1}",
        ),
    ):
        args = ["template", "bp", str(CHART), "--kube-version", KUBE]
        for s in bad:
            args += ["--set", s]
        assert f"its topics have {most} partitions" in helm(*args, ok=False)
    for values in CI_VALUES:
        for hpa in of_kind(render(values), "HorizontalPodAutoscaler"):
            name = hpa["spec"]["scaleTargetRef"]["name"]
            if name.endswith("-worker"):
                service = name.removeprefix("bp-booking-platform-").removesuffix("-worker")
                assert hpa["spec"]["maxReplicas"] <= PLATFORM["workers"][service]["maxReplicas"]


def test_every_pod_has_a_disruption_budget_and_a_network_policy() -> None:
    docs = render(CHART / "ci" / "strimzi-values.yaml")
    budgets = [d["spec"]["selector"]["matchLabels"] for d in of_kind(docs, "PodDisruptionBudget")]
    policies = [d["spec"] for d in of_kind(docs, "NetworkPolicy")]
    for deployment in of_kind(docs, "Deployment"):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        port = deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]
        if not deployment["metadata"]["name"].endswith("-relay"):
            assert any(b.items() <= labels.items() for b in budgets)
        policy = next(
            p for p in policies if p["podSelector"]["matchLabels"].items() <= labels.items()
        )
        assert policy["policyTypes"] == ["Ingress", "Egress"]
        assert [r["ports"] for r in policy["ingress"]] == [
            [{"port": port["containerPort"], "protocol": "TCP"}]
        ]
        egress_ports = {p["port"] for rule in policy["egress"] for p in rule.get("ports", [])}
        assert {53, 9092, 5432} <= egress_ports


def test_the_ingress_routes_every_api_path_to_its_service() -> None:
    """Each operation of each committed OpenAPI document reaches the service that serves it:
    regular expressions first (a booking's payment), then the longest prefix."""
    ingress = of_kind(render(sets=("ingress.enabled=true", "ingress.host=api.test")), "Ingress")[0]
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/use-regex"] == "true"
    paths = ingress["spec"]["rules"][0]["http"]["paths"]

    def route(path: str) -> str:
        for p in paths:
            if p["pathType"] == "ImplementationSpecific" and re.match(f"^{p['path']}$", path):
                return p["backend"]["service"]["name"]
        prefixes = [
            p
            for p in paths
            if p["pathType"] == "Prefix" and (path == p["path"] or path.startswith(p["path"] + "/"))
        ]
        assert prefixes, f"nothing routes {path}"
        return max(prefixes, key=lambda p: len(p["path"]))["backend"]["service"]["name"]

    sample = re.compile(r"\{[^}/]+\}")
    for service in SERVICES:
        document = json.loads((REPO_ROOT / "docs" / "api" / f"{service}.openapi.json").read_text())
        for path in document["paths"]:
            concrete = sample.sub("0b9e4f1c-1d2e-4f00-8a4b-2f7c1d9e0a11", path)
            assert route(concrete) == f"bp-booking-platform-{service}-web", path


def test_only_addresses_given_the_release_signs_its_own_tokens() -> None:
    """ci/minimal-values.yaml (Kafka and Postgres only) renders a working install: the release
    makes a token-signing key; pods get only its certificate, which verifies what the key signs
    (what `bpctl token --from-secret` does)."""
    import base64
    from types import SimpleNamespace

    from devstack.tokens import sign_token
    from service_kit.auth import TokenVerifier

    docs = render(CHART / "ci" / "minimal-values.yaml")
    secrets = {d["metadata"]["name"]: d for d in of_kind(docs, "Secret")}
    services = secrets["bp-booking-platform-secrets"]
    assert set(services["data"]) == {"webhook-secret", "secrets-keys"}  # no signing key
    assert len(base64.b64decode(services["data"]["webhook-secret"])) == 40
    # The key that seals webhook secrets at rest: one the notifier takes.
    from notifier.adapters.sealing import SecretBox

    box = SecretBox.of(base64.b64decode(services["data"]["secrets-keys"]).decode())
    assert box.open(box.seal("whsec_x")) == "whsec_x"
    signer = secrets["bp-booking-platform-token-signer"]
    assert "development-only" in signer["metadata"]["annotations"]["booking-platform/purpose"]
    data = {k: base64.b64decode(v).decode() for k, v in signer["data"].items()}
    assert set(data) == {"signing-key", "signing-cert"}
    for deployment in of_kind(docs, "Deployment"):
        env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in env if "valueFrom" in e}
        assert refs["AUTH_SIGNING_CERT"] == {
            "name": "bp-booking-platform-token-signer",
            "key": "signing-cert",
        }
        assert "signing-key" not in [r["key"] for r in refs.values()]
    verifier = TokenVerifier.from_settings(
        SimpleNamespace(
            auth_jwks=None,
            auth_jwks_file=None,
            auth_signing_cert=data["signing-cert"],
            auth_issuer="booking-platform",
            auth_audience="booking-platform-api",
            auth_leeway_s=0,
        )
    )
    key = load_pem_private_key(data["signing-key"].encode(), password=None)
    assert verifier.verify(sign_token(key, tenant="acme", subject="ops")).tenant == "acme"


def test_each_service_has_a_web_and_a_worker_and_its_web_a_service(
    manifests: list[dict[str, Any]],
) -> None:
    names = {d["metadata"]["name"] for d in of_kind(manifests, "Deployment")}
    assert names == {f"bp-booking-platform-{s}-{r}" for s in SERVICES for r in ("web", "worker")}
    services = {d["metadata"]["name"] for d in of_kind(manifests, "Service")}
    assert services == names  # the workers' are headless, for scraping /metrics
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
    """Every process has probes: the web on its API port, workers and relays on the operations
    port (/healthz answers without asking anything; /readyz asks Postgres and Kafka)."""
    for deployment in of_kind(manifests, "Deployment"):
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        port = container["ports"][0]["containerPort"]
        for probe in ("startupProbe", "livenessProbe"):
            assert container[probe]["httpGet"] == {"path": "/healthz", "port": port}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port}
        if not deployment["metadata"]["name"].endswith("-web"):
            assert port == 9090
            env = config_of(manifests, deployment)
            assert env[f"{container['command'][0].split('-')[0].upper()}_OPS_PORT"] == "9090"


def config_of(docs: list[dict[str, Any]], deployment: dict[str, Any]) -> dict[str, str]:
    """The settings a Deployment's container gets from its ConfigMap."""
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    name = container["envFrom"][0]["configMapRef"]["name"]
    return next(d for d in of_kind(docs, "ConfigMap") if d["metadata"]["name"] == name)["data"]


def test_secrets_come_from_secrets_and_existing_ones_are_used(
    manifests: list[dict[str, Any]],
) -> None:
    own = render(
        sets=(
            "postgres.existingSecret=db",
            "auth.existingSecret=jwt",
            "payment.existingSecret=pay",
            "notifier.secretsKeysSecret=seal",
        )
    )
    assert of_kind(own, "Secret") == []
    notifier = next(
        d for d in of_kind(own, "Deployment") if d["metadata"]["name"].endswith("notifier-worker")
    )
    sealed = [
        e
        for e in notifier["spec"]["template"]["spec"]["containers"][0]["env"]
        if e["name"] == "NOTIFIER_SECRETS_KEYS"
    ]
    assert sealed[0]["valueFrom"]["secretKeyRef"] == {"name": "seal", "key": "secrets-keys"}
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


def test_tracing_and_dashboard_are_off_until_asked_for(manifests: list[dict[str, Any]]) -> None:
    for config in of_kind(manifests, "ConfigMap"):
        assert not any(k.startswith("OTEL_") for k in config["data"]), config["metadata"]["name"]
    assert not [c for c in of_kind(manifests, "ConfigMap") if "grafana" in c["metadata"]["name"]]
    for policy in of_kind(manifests, "NetworkPolicy"):
        ports = {p["port"] for rule in policy["spec"]["egress"] for p in rule.get("ports", [])}
        assert 4318 not in ports


@pytest.mark.parametrize(
    ("endpoint", "port"),
    [
        ("http://otel-collector.monitoring:4318", 4318),
        ("https://otlp.example.com", 443),
        ("http://collector", 80),
    ],
)
def test_tracing_reaches_every_process_and_its_collector(
    endpoint: str, port: int, tmp_path: Path
) -> None:
    values = tmp_path / "tracing.yaml"
    values.write_text(
        yaml.safe_dump(
            {
                "tracing": {"otlpEndpoint": endpoint, "sampleRatio": 0.1},
                "networkPolicy": {"tracingTo": [{"ipBlock": {"cidr": "10.9.0.0/16"}}]},
            }
        )
    )
    docs = render(values)
    deployments = of_kind(docs, "Deployment")
    assert deployments
    for deployment in deployments:
        env = config_of(docs, deployment)
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == endpoint
        assert env["OTEL_TRACES_SAMPLER"] == "parentbased_traceidratio"
        assert env["OTEL_TRACES_SAMPLER_ARG"] == "0.1"
    for policy in of_kind(docs, "NetworkPolicy"):
        to_collector = [
            rule
            for rule in policy["spec"]["egress"]
            if rule.get("ports") == [{"port": port, "protocol": "TCP"}]
        ]
        assert to_collector and to_collector[0]["to"] == [{"ipBlock": {"cidr": "10.9.0.0/16"}}]
    refusal("tracing.otlpEndpoint=collector:4318")


def test_the_dashboard_ships_for_grafanas_sidecar_and_scrapes_keep_the_service_label() -> None:
    from devstack import dashboard

    docs = render(
        sets=(
            "metrics.grafanaDashboard.enabled=true",
            "metrics.grafanaDashboard.annotations.grafana_folder=Booking",
            "metrics.serviceMonitor.enabled=true",
        )
    )
    [config] = named(docs, "ConfigMap", "grafana-dashboard")
    assert config["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config["metadata"]["annotations"] == {"grafana_folder": "Booking"}
    assert json.loads(config["data"]["booking-platform.json"]) == dashboard.dashboard()
    # The metrics' own "service" label must survive the scrape (the dashboard groups by it).
    [monitor] = of_kind(docs, "ServiceMonitor")
    assert all(e["honorLabels"] is True for e in monitor["spec"]["endpoints"])


def test_webhooks_reach_public_addresses_only_unless_networks_are_allowed() -> None:
    """The notifier worker's webhook egress (443, 80) excludes private, loopback, link-local,
    shared and translated ranges; notifier.webhookAllowedNetworks opens exactly what it names.
    Pricing (rate plans are checked against the tenant's resources) and booking reach the
    inventory API, which admits them."""
    import ipaddress

    def webhook_rule(docs: list[dict[str, Any]]) -> dict[str, Any]:
        [policy] = named(docs, "NetworkPolicy", "notifier-worker")
        [rule] = [
            r
            for r in policy["spec"]["egress"]
            if {"port": 443, "protocol": "TCP"} in r.get("ports", [])
        ]
        return rule

    blocks = [to["ipBlock"] for to in webhook_rule(render())["to"]]
    assert [b["cidr"] for b in blocks] == ["0.0.0.0/0", "::/0"]
    refused = [ipaddress.ip_network(c) for b in blocks for c in b["except"]]
    for private in (
        "10.1.2.3",
        "192.168.0.1",
        "172.20.0.1",
        "169.254.169.254",
        "127.0.0.1",
        "100.64.0.1",
        "fd00::1",
        "fe80::1",
        "64:ff9b::a00:1",
        "2002:a00:1::1",
    ):
        ip = ipaddress.ip_address(private)
        assert any(ip in net for net in refused if net.version == ip.version), private
    for public in ("93.184.215.14", "2606:4700::1111"):
        ip = ipaddress.ip_address(public)
        assert not any(ip in net for net in refused if net.version == ip.version), public
    opened = webhook_rule(render(sets=("notifier.webhookAllowedNetworks=10.9.0.0/16\\,fd00::/8",)))
    assert opened["to"][2:] == [
        {"ipBlock": {"cidr": "10.9.0.0/16"}},
        {"ipBlock": {"cidr": "fd00::/8"}},
    ]

    docs = render(sets=("networkPolicy.apiFrom[0].podSelector.matchLabels.role=gateway",))
    policies = {
        p["metadata"]["name"].removeprefix("bp-booking-platform-"): p["spec"]
        for p in of_kind(docs, "NetworkPolicy")
    }
    for caller in ("booking-web", "pricing-web"):
        assert any(
            {"port": 8001, "protocol": "TCP"} in r.get("ports", [])
            for r in policies[caller]["egress"]
        ), caller
    admitted = policies["inventory-web"]["ingress"][0]["from"]
    assert {
        "key": "booking-platform/service",
        "operator": "In",
        "values": ["booking", "pricing"],
    } in [e for f in admitted for e in f.get("podSelector", {}).get("matchExpressions", [])]
    configs = {c["metadata"]["name"]: c["data"] for c in of_kind(docs, "ConfigMap")}
    assert configs["bp-booking-platform-pricing"]["PRICING_INVENTORY_URL"].endswith(
        "-inventory-web:8001"
    )


def test_test_payment_methods_are_off_and_refused_outside_development() -> None:
    """The simulated card's test methods confirm bookings without money: off by default, and
    the chart refuses to render them under the production profile."""
    configs = {c["metadata"]["name"]: c["data"] for c in of_kind(render(), "ConfigMap")}
    payment = configs["bp-booking-platform-payment"]
    assert (payment["PLATFORM_PROFILE"], payment["PAYMENT_TEST_METHODS_ENABLED"]) == (
        "production",
        "false",
    )
    assert all(
        c.get("PLATFORM_PROFILE") == "production"
        for c in configs.values()
        if "KAFKA_BOOTSTRAP_SERVERS" in c
    )
    refused = refusal("payment.testMethodsEnabled=true")
    assert "profile=development" in refused
    dev = render(sets=("payment.testMethodsEnabled=true", "profile=development"))
    dev_payment = {c["metadata"]["name"]: c["data"] for c in of_kind(dev, "ConfigMap")}[
        "bp-booking-platform-payment"
    ]
    assert dev_payment["PAYMENT_TEST_METHODS_ENABLED"] == "true"


def test_an_identity_providers_jwks_url_replaces_the_releases_own_signer() -> None:
    """With auth.oidcDiscoveryUrl (or jwksUrl) the services fetch and refresh the provider's
    keys: no signer Secret is made, no key reaches a pod, and claim names and the token
    lifetime limit are the operator's."""
    docs = render(
        sets=(
            "auth.oidcDiscoveryUrl=https://idp.example.com/.well-known/openid-configuration",
            "auth.rolesClaim=realm_access.roles",
            "auth.maxTokenLifetimeSeconds=3600",
        )
    )
    assert not [s for s in of_kind(docs, "Secret") if s["metadata"]["name"].endswith("signer")]
    for deployment in of_kind(docs, "Deployment"):
        env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        assert not {"AUTH_SIGNING_CERT", "AUTH_JWKS"} & {e["name"] for e in env}
        config = config_of(docs, deployment)
        assert config["AUTH_OIDC_DISCOVERY_URL"].startswith("https://idp.example.com/")
        assert (config["AUTH_ROLES_CLAIM"], config["AUTH_TENANT_CLAIM"]) == (
            "realm_access.roles",
            "tenant",
        )
        assert config["AUTH_MAX_TOKEN_LIFETIME_S"] == "3600"
    refusal("auth.jwksUrl=http://plain.example/keys")


def _containers(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every Deployment's and Job's container, by its object's name."""
    return {
        d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]
        for d in docs
        if d["kind"] in ("Deployment", "Job")
    }


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def test_postgres_is_reached_over_verified_tls_by_default(
    manifests: list[dict[str, Any]],
) -> None:
    urls = next(
        d
        for d in of_kind(manifests, "Secret")
        if d["metadata"]["name"] == "bp-booking-platform-secrets"
    )["stringData"]
    database_urls = {k: v for k, v in urls.items() if k.endswith("-database-url")}
    assert len(database_urls) == len(SERVICES)
    assert all(v.endswith("?sslmode=verify-full") for v in database_urls.values()), database_urls
    for name, container in _containers(manifests).items():
        if name.endswith("-topics"):
            continue  # Kafka only
        assert _env(container)["PGSSLROOTCERT"] == "/etc/ssl/certs/ca-certificates.crt", name
    # The operator's CA: mounted from its Secret wherever Postgres is reached.
    docs = render(sets=("postgres.caSecret=pg-ca",))
    for d in docs:
        if d["kind"] not in ("Deployment", "Job") or d["metadata"]["name"].endswith("-topics"):
            continue
        pod = d["spec"]["template"]["spec"]
        assert _env(pod["containers"][0])["PGSSLROOTCERT"] == (
            "/etc/booking-platform/postgres-ca/ca.crt"
        )
        mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
        assert mounts["postgres-ca"] == "/etc/booking-platform/postgres-ca"
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["postgres-ca"]["secret"]["secretName"] == "pg-ca"


def test_migrations_run_as_the_tables_owner_and_the_services_as_their_own_role() -> None:
    docs = render(
        sets=(
            "postgres.credentials.booking.password=app-pw",
            "postgres.credentials.booking.ownerUsername=booking_owner",
            "postgres.credentials.booking.ownerPassword=owner-pw",
        )
    )
    hooks = next(d for d in of_kind(docs, "Secret") if d["metadata"]["name"].endswith("-hooks"))
    assert hooks["stringData"]["booking-migrations-database-url"].startswith(
        "postgresql://booking_owner:owner-pw@"
    )
    assert "inventory-migrations-database-url" not in hooks["stringData"]
    for name, container in _containers(docs).items():
        env = _env(container)
        if name.endswith("-migrate"):
            service = name.removeprefix("bp-booking-platform-").removesuffix("-migrate")
            ref = env[f"{service.upper()}_MIGRATIONS_DATABASE_URL"]["secretKeyRef"]
            assert ref == {
                "name": "bp-booking-platform-hooks",
                "key": f"{service}-migrations-database-url",
                "optional": True,  # not given: the services' role migrates
            }
            assert f"{service.upper()}_DATABASE_URL" in env  # whose role is granted
        else:
            # The owner's password reaches no long-running pod.
            assert not [k for k in env if k.endswith("_MIGRATIONS_DATABASE_URL")], name
    own = next(
        d for d in of_kind(docs, "Secret") if d["metadata"]["name"] == "bp-booking-platform-secrets"
    )
    assert "owner-pw" not in json.dumps(own)


def _kafka_secured(*extra: str) -> list[dict[str, Any]]:
    principals = [f"kafka.principals.{p}.secret=kafka-{p}" for p in (*SERVICES, "topics")]
    return render(
        sets=("kafka.securityProtocol=SASL_SSL", "kafka.caSecret=kafka-ca", *principals, *extra)
    )


def test_kafka_is_plain_text_unless_asked_and_each_pod_is_its_own_principal() -> None:
    for env in map(_env, _containers(render()).values()):
        assert env.get("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT") == "PLAINTEXT"
        assert not [k for k in env if k.startswith("KAFKA_SASL")]
    docs = _kafka_secured()
    for name, container in _containers(docs).items():
        if name.endswith("-migrate"):
            continue  # Postgres only
        env = _env(container)
        who = "topics" if name.endswith("-topics") else name.split("-")[3]
        expected_user = "admin" if who == "topics" else who
        assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL", name
        assert env["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512", name
        assert env["KAFKA_SASL_USERNAME"] == expected_user, name
        assert env["KAFKA_SASL_PASSWORD"]["secretKeyRef"] == {
            "name": f"kafka-{who}",
            "key": "password",
        }, name
        assert env["KAFKA_SSL_CA_FILE"] == "/etc/booking-platform/kafka-ca/ca.crt", name
        mounts = {m["name"] for m in container["volumeMounts"]}
        assert "kafka-ca" in mounts, name


def test_the_topics_job_applies_the_acls_when_asked() -> None:
    (job,) = [
        c for n, c in _containers(_kafka_secured("kafka.applyAcls=true")).items() if "topics" in n
    ]
    assert "--acls" in job["command"]
    assert "booking=booking" in job["command"]
    (plain,) = [c for n, c in _containers(_kafka_secured()).items() if "topics" in n]
    assert "--acls" not in plain["command"]


def test_oauthbearer_reads_a_client_secret_and_sasl_without_a_secret_is_refused() -> None:
    docs = _kafka_secured(
        "kafka.saslMechanism=OAUTHBEARER", "kafka.oauth.tokenUrl=https://idp.example.com/token"
    )
    web = _env(_containers(docs)["bp-booking-platform-pricing-web"])
    assert web["KAFKA_OAUTH_CLIENT_ID"] == "pricing"
    assert web["KAFKA_OAUTH_CLIENT_SECRET"]["secretKeyRef"]["name"] == "kafka-pricing"
    assert web["KAFKA_OAUTH_TOKEN_URL"] == "https://idp.example.com/token"
    assert "KAFKA_SASL_PASSWORD" not in web
    refused = refusal("kafka.securityProtocol=SASL_SSL")
    assert "needs the principal's password from a Secret" in refused


def test_a_principal_s_client_certificate_is_mounted_for_mutual_tls_and_only_over_tls() -> None:
    docs = _kafka_secured(
        "kafka.principals.payment.certSecret=payment-user",
        "kafka.principals.payment.certKey=user.crt",
        "kafka.principals.payment.keyKey=user.key",
    )
    for d in docs:
        if d["kind"] != "Deployment":
            continue
        pod = d["spec"]["template"]["spec"]
        env = _env(pod["containers"][0])
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
        if "-payment-" not in d["metadata"]["name"]:
            # Only the principal that has one presents a certificate.
            assert "KAFKA_SSL_CERT_FILE" not in env and "kafka-client" not in volumes
            continue
        assert env["KAFKA_SSL_CERT_FILE"] == "/etc/booking-platform/kafka-client/tls.crt"
        assert env["KAFKA_SSL_KEY_FILE"] == "/etc/booking-platform/kafka-client/tls.key"
        assert mounts["kafka-client"] == "/etc/booking-platform/kafka-client"
        secret = volumes["kafka-client"]["secret"]
        assert secret["secretName"] == "payment-user"
        assert secret["items"] == [
            {"key": "user.crt", "path": "tls.crt"},
            {"key": "user.key", "path": "tls.key"},
        ]
        assert secret["defaultMode"] == 0o440
    refused = refusal("kafka.principals.booking.certSecret=booking-user")
    assert "a client certificate needs kafka.securityProtocol SSL or SASL_SSL" in refused


def test_pods_run_as_the_release_s_account_with_no_token_and_take_annotations_and_affinity() -> (
    None
):
    affinity = "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
    docs = render(
        sets=(
            "serviceAccount.annotations.iam\\.gke\\.io/gcp-service-account=bp@p.iam",
            "podAnnotations.team=bookings",
            f"{affinity}.nodeSelectorTerms[0].matchExpressions[0].key=pool",
            f"{affinity}.nodeSelectorTerms[0].matchExpressions[0].operator=Exists",
        )
    )
    [account] = of_kind(docs, "ServiceAccount")
    assert account["metadata"]["name"] == "bp-booking-platform"
    assert account["automountServiceAccountToken"] is False
    assert account["metadata"]["annotations"] == {"iam.gke.io/gcp-service-account": "bp@p.iam"}
    pods = [d for d in docs if d["kind"] in ("Deployment", "Job")]
    assert pods
    for d in pods:
        template = d["spec"]["template"]
        pod = template["spec"]
        assert pod["automountServiceAccountToken"] is False, d["metadata"]["name"]
        assert template["metadata"]["annotations"]["team"] == "bookings"
        assert pod["affinity"]["nodeAffinity"], d["metadata"]["name"]
        if d["kind"] == "Deployment":
            assert pod["serviceAccountName"] == "bp-booking-platform"
        else:  # hooks run before the release's objects exist
            assert "serviceAccountName" not in pod
    elsewhere = render(sets=("serviceAccount.create=false", "serviceAccount.name=shared"))
    assert of_kind(elsewhere, "ServiceAccount") == []
    assert {
        d["spec"]["template"]["spec"]["serviceAccountName"]
        for d in of_kind(elsewhere, "Deployment")
    } == {"shared"}


def _notes(tmp_path: Path, *sets: str) -> str:
    """NOTES.txt as ``helm install`` prints it (helm template does not render it: the chart is
    copied with the notes as an ordinary template)."""
    chart = tmp_path / "chart"
    shutil.copytree(CHART, chart)
    notes = (chart / "templates" / "NOTES.txt").read_text()
    (chart / "templates" / "NOTES.txt").unlink()
    body = "\n".join("    " + line for line in notes.splitlines())
    (chart / "templates" / "notes.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\ndata:\n  notes: |\n" + body
    )
    args = ["template", "bp", str(chart), "--kube-version", KUBE, "--show-only"]
    args += ["templates/notes.yaml", *[a for s in sets for a in ("--set", s)]]
    return str(yaml.safe_load(helm(*args))["data"]["notes"])


def test_the_install_notes_say_how_to_reach_the_api_and_get_a_first_token(tmp_path: Path) -> None:
    notes = _notes(tmp_path)
    services = {d["metadata"]["name"] for d in of_kind(render(), "Service")}
    assert "port-forward svc/bp-booking-platform-booking-web 8000:8000" in notes
    assert "bp-booking-platform-booking-web" in services
    assert "get secret bp-booking-platform-token-signer" in notes and "DEVELOPMENT ONLY" in notes
    with_idp = _notes(tmp_path / "idp", "auth.jwksUrl=https://idp.example.com/jwks")
    assert "token-signer" not in with_idp and '"tenant" claim' in with_idp
    with_ingress = _notes(
        tmp_path / "ingress", "ingress.enabled=true", "ingress.host=api.example.com"
    )
    assert "https://api.example.com/api/v1/" in with_ingress


def test_helm_test_books_with_a_token_it_can_get_and_only_checks_readiness_without_one() -> None:
    """The test pod (bpctl smoke): signs with the release's own key, or reads the token Secret
    given with an identity provider, or without one checks readiness only (it must not fail
    every install that has an identity provider)."""

    def smoke(*sets: str) -> dict[str, Any]:
        [pod] = [p for p in of_kind(render(sets=sets), "Pod")]
        assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
        assert pod["metadata"]["labels"]["booking-platform/operator"] == "true"
        return pod

    own = smoke()
    [container] = own["spec"]["containers"]
    assert container["image"].endswith("booking-platform/bpctl:0.1.0")
    assert container["command"][:2] == ["bpctl", "smoke"]
    assert "--signing-key" in container["command"]
    assert "bank_transfer" in container["command"]  # production: no test cards
    env = _env(container)
    assert env["BOOKING_URL"] == "http://bp-booking-platform-booking-web:8000"
    assert env["NOTIFIER_OPS_URL"] == "http://bp-booking-platform-notifier-worker:9090"
    assert [v["secret"]["secretName"] for v in own["spec"]["volumes"] if "secret" in v] == [
        "bp-booking-platform-token-signer"
    ]
    idp = "auth.jwksUrl=https://idp.example.com/jwks"
    [container] = smoke(idp)["spec"]["containers"]
    assert "--ready-only" in container["command"] and "PLATFORM_TOKEN" not in _env(container)
    [container] = smoke(idp, "tests.tokenSecret=smoke-token")["spec"]["containers"]
    assert "--ready-only" not in container["command"]
    assert _env(container)["PLATFORM_TOKEN"]["secretKeyRef"] == {
        "name": "smoke-token",
        "key": "token",
    }
    dev = ("profile=development", "payment.testMethodsEnabled=true")
    [container] = smoke(*dev)["spec"]["containers"]
    assert "pm_card_visa" in container["command"]


def test_the_toolbox_runs_bpctl_from_the_release_secrets_and_may_reach_every_process() -> None:
    assert not named(render(), "Deployment", "toolbox")
    docs = render(
        sets=(
            "toolbox.enabled=true",
            "networkPolicy.apiFrom[0].podSelector.matchLabels.role=gateway",
            "networkPolicy.metricsFrom[0].podSelector.matchLabels.role=prometheus",
        )
    )
    [toolbox] = named(docs, "Deployment", "toolbox")
    [container] = toolbox["spec"]["template"]["spec"]["containers"]
    assert container["image"].endswith("booking-platform/bpctl:0.1.0")
    env = _env(container)
    for service in SERVICES:
        ref = env[f"{service.upper()}_DATABASE_URL"]["secretKeyRef"]
        assert ref == {"name": "bp-booking-platform-secrets", "key": f"{service}-database-url"}
        assert f"{service.upper()}_URL" in env
    assert env["KAFKA_BOOTSTRAP_SERVERS"]
    labels = toolbox["spec"]["template"]["metadata"]["labels"]
    for policy in of_kind(docs, "NetworkPolicy"):
        peers = [peer for rule in policy["spec"]["ingress"] for peer in rule.get("from", [])]
        assert any(
            all(
                labels.get(k) == v
                for k, v in p.get("podSelector", {}).get("matchLabels", {}).items()
            )
            and "booking-platform/operator" in p.get("podSelector", {}).get("matchLabels", {})
            for p in peers
        ), policy["metadata"]["name"]


def test_pods_spread_over_nodes_by_default_and_as_the_values_say() -> None:
    def spreads(*sets: str) -> dict[str, list[dict[str, Any]]]:
        return {
            d["metadata"]["name"]: d["spec"]["template"]["spec"]["topologySpreadConstraints"]
            for d in of_kind(render(sets=sets), "Deployment")
        }

    for name, [constraint] in spreads().items():
        assert constraint["topologyKey"] == "kubernetes.io/hostname", name
        assert constraint["whenUnsatisfiable"] == "ScheduleAnyway"
        component = constraint["labelSelector"]["matchLabels"]["app.kubernetes.io/component"]
        assert name.endswith(component)  # each process kind spreads apart from the others
    zone = (
        "topologySpreadConstraints[0].maxSkew=1",
        "topologySpreadConstraints[0].topologyKey=topology.kubernetes.io/zone",
        "topologySpreadConstraints[0].whenUnsatisfiable=DoNotSchedule",
    )
    for name, [constraint] in spreads(*zone).items():
        assert constraint["topologyKey"] == "topology.kubernetes.io/zone"
        assert constraint["whenUnsatisfiable"] == "DoNotSchedule"
        assert name.endswith(
            constraint["labelSelector"]["matchLabels"]["app.kubernetes.io/component"]
        )
