"""Each service installs and starts from its own package alone: ``uv sync --no-dev --package
<service>-service`` into a fresh environment (what an image installs), then the service's
modules are imported, its web app and consumer runner built and its console scripts found.
A module that a service imports without declaring it (only the workspace brought it) fails
here, as it would fail in the image."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from devstack.platform import SERVICES

REPO_ROOT = Path(__file__).resolve().parents[2]

CHECK = """
import importlib, sys
service = sys.argv[1]
definition = importlib.import_module(f"{service}.bootstrap").SERVICE
for role in ("web", "worker", "relay", "migrate"):
    importlib.import_module(f"{service}.entrypoints.{role}")
importlib.import_module("service_kit.main")
importlib.import_module("messaging.topics")
wiring = definition.wire()
app = definition.web_app(wiring)
assert app.openapi()["paths"], "no operations"
definition.consumer_runner(wiring)
try:
    importlib.import_module("devstack")
except ImportError:
    pass
else:
    raise SystemExit("devstack is in the service's environment: the check proves nothing")
print("ok", len(app.openapi()["paths"]))
"""


def _jwks() -> str:
    public = Ed25519PrivateKey.generate().public_key()
    jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(public))
    return json.dumps({"keys": [jwk | {"kid": "package-test", "alg": "EdDSA", "use": "sig"}]})


@pytest.mark.parametrize("service", list(SERVICES))
def test_the_service_package_alone_installs_imports_and_builds_its_apps(
    service: str, tmp_path: Path
) -> None:
    env_dir = tmp_path / "env"
    uv = [sys.executable, "-m", "uv"] if not _has_uv() else ["uv"]
    subprocess.run(
        [*uv, "sync", "--no-dev", "--frozen", "--quiet", "--package", f"{service}-service"],
        cwd=REPO_ROOT,
        env={**os.environ, "UV_PROJECT_ENVIRONMENT": str(env_dir)},
        check=True,
        timeout=600,
    )
    scripts = {p.name for p in (env_dir / "bin").iterdir()}
    assert {f"{service}-{role}" for role in ("web", "worker", "relay", "migrate")} <= scripts
    assert "booking-topics" in scripts
    env = {
        "PATH": os.environ["PATH"],
        "AUTH_JWKS": _jwks(),
        f"{service.upper()}_DATABASE_URL": "postgresql://offline@127.0.0.1:9/unused",
        "PLATFORM_PROFILE": "development",
        "HOME": str(tmp_path),
    }
    done = subprocess.run(
        [str(env_dir / "bin" / "python"), "-c", CHECK, service],
        cwd=tmp_path,  # not the checkout: nothing of the workspace on the path
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("ok")


def _has_uv() -> bool:
    from shutil import which

    return which("uv") is not None
