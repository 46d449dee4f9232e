"""deploy/compose.yml and the Dockerfile, checked without a Docker engine: the compose file is
valid against the Compose Specification's JSON Schema (from compose-go, fetched by the
bootstrap), every command a container runs is a command its image installs, every setting it
passes is one the service reads, and the image runs as a non-root user."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

from devstack.kafka import REPO_ROOT
from service_kit.main import SERVICES, load

COMPOSE = REPO_ROOT / "deploy" / "compose.yml"
SCHEMA = REPO_ROOT / ".cache" / "compose-spec" / "compose-spec.json"
ENV = {
    "POSTGRES_PASSWORD": "pw",
    "POSTGRES_APP_PASSWORD": "apw",
    "AUTH_JWKS": '{"keys": []}',
    "PAYMENT_SIM_WEBHOOK_SECRET": "s",
}
VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def interpolate(node: Any, env: dict[str, str]) -> Any:
    """Compose's variable interpolation, on the parsed document's strings."""
    if isinstance(node, dict):
        return {k: interpolate(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate(v, env) for v in node]
    if not isinstance(node, str):
        return node

    def one(m: re.Match[str]) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3) or ""
        value = env.get(name)
        if op in (":-", "-"):
            return value if value else arg
        if op in (":?", "?") and not value:
            raise KeyError(f"{name}: {arg}")
        return value or ""

    return VAR.sub(one, node.replace("$$", "\0")).replace("\0", "$")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(interpolate(yaml.safe_load(COMPOSE.read_text()), ENV))


def scripts(pyproject: Path) -> set[str]:
    return set(tomllib.loads(pyproject.read_text())["project"].get("scripts", {}))


def image_commands(service: str) -> set[str]:
    """Console scripts installed in a service's image: its own and its libraries'."""
    return scripts(REPO_ROOT / "services" / service / "pyproject.toml") | scripts(
        REPO_ROOT / "libs" / "messaging" / "pyproject.toml"
    )


def test_the_compose_file_follows_the_compose_specification(compose: dict[str, Any]) -> None:
    assert SCHEMA.exists(), f"{SCHEMA} is missing: run `make bootstrap`"
    validator = Draft7Validator(json.loads(SCHEMA.read_text()))
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(compose)]
    assert errors == []
    broken = copy_with(compose, ["services", "kafka", "restart_policy"], "always")
    assert list(validator.iter_errors(broken)), "the schema check would notice a broken file"


def copy_with(doc: dict[str, Any], path: list[str], value: Any) -> dict[str, Any]:
    out = json.loads(json.dumps(doc))
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


def test_refuses_to_start_without_its_secrets() -> None:
    with pytest.raises(KeyError, match="set "):
        interpolate(yaml.safe_load(COMPOSE.read_text()), {})


def test_every_service_has_migrate_web_and_worker_running_commands_its_image_has(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    for service in SERVICES:
        for role in ("migrate", "web", "worker"):
            spec = services[f"{service}-{role}"]
            assert spec["build"]["args"]["SERVICE"] == service
            assert spec["command"] == [f"{service}-{role}"]
            assert spec["command"][0] in image_commands(service)
        assert services[f"{service}-web"]["depends_on"][f"{service}-migrate"] == {
            "condition": "service_completed_successfully"
        }
    assert services["topics"]["command"][0] in image_commands("booking")
    for name, spec in services.items():
        for dependency in spec.get("depends_on", {}):
            assert dependency in services, (name, dependency)


def test_every_setting_passed_is_one_the_service_reads(compose: dict[str, Any]) -> None:
    for service in SERVICES:
        settings = load(service).settings_factory
        prefix = f"{service.upper()}_"
        fields = settings.model_fields  # type: ignore[attr-defined]
        for role in ("migrate", "web", "worker"):
            env = compose["services"][f"{service}-{role}"]["environment"]
            for name in env:
                if name.startswith(prefix):
                    assert name.removeprefix(prefix).lower() in fields, (service, name)
        web = compose["services"][f"{service}-web"]["environment"]
        assert (
            web[f"{prefix}HTTP_HOST"] == "0.0.0.0" and web[f"{prefix}ALLOW_PUBLIC_BIND"] == "true"
        )


def test_containers_run_unprivileged_and_read_only(compose: dict[str, Any]) -> None:
    for name, spec in compose["services"].items():
        if "build" in spec:
            assert spec["read_only"] is True and spec["cap_drop"] == ["ALL"], name
            assert "no-new-privileges:true" in spec["security_opt"], name
        for port in spec.get("ports", []):
            assert port.startswith("127.0.0.1:"), (name, port)  # nothing beyond this machine


def test_the_dockerfile_builds_one_service_as_a_non_root_user_from_the_lock() -> None:
    text = (REPO_ROOT / "Dockerfile").read_text()
    members = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["uv"]["workspace"]
    for pattern in members["members"]:
        for member in REPO_ROOT.glob(pattern):
            if (member / "pyproject.toml").exists():
                rel = member.relative_to(REPO_ROOT).as_posix()
                assert f"COPY {rel}/pyproject.toml {rel}/" in text, rel
    assert "uv sync --frozen --no-dev --no-editable" in text
    assert re.search(r"^USER 10001:10001$", text, re.M)
    # The web by default, bpctl's help for its image (tests/deploy/test_containers.py runs them).
    assert re.search(r'^CMD \["sh", "-c", ".*exec \\"\$SERVICE-web\\".*"\]$', text, re.M)
    for service in SERVICES:
        assert f"{service}-web" in image_commands(service)
