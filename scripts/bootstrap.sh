#!/usr/bin/env bash
# Installs what is needed on a fresh machine, and nothing more:
#
#   bootstrap.sh run   what the platform needs (`make run`): uv (from PyPI), the Python
#                      workspace (.venv, locked), Java 17+ and Maven (Debian packages, only if
#                      missing) and the Kafka broker's jars (Maven Central, cached in .cache/).
#                      Postgres needs nothing: the embedded server ships in a PyPI wheel.
#   bootstrap.sh       (or `test`) all of that, and what the tests and lint use besides: npm,
#                      Go, faketime, a Postgres built with TLS, podman, runc and debootstrap
#                      (Debian packages, only if missing), the AsyncAPI specification's JSON
#                      Schemas and Strimzi's KafkaTopic schema (npm), the Compose Specification's JSON Schema (the
#                      compose-go module, from the Go module proxy) and helm (built from the Go
#                      module proxy), all cached in .cache/.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-test}

python3 - <<'PY' || { echo "Python 3.11+ is required" >&2; exit 1; }
import sys
sys.exit(0 if sys.version_info >= (3, 11) else 1)
PY

if command -v uv >/dev/null 2>&1; then
  UV=(uv)
else
  python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet --disable-pip-version-check uv
  UV=(python3 -m uv)
fi

java_ok() {
  command -v java >/dev/null 2>&1 || return 1
  local v
  v=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
  [ -n "$v" ] && [ "$v" -ge 17 ]
}
missing=()
java_ok || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
command -v useradd >/dev/null 2>&1 || missing+=(passwd)
if [ "$MODE" != run ]; then
  command -v npm >/dev/null 2>&1 || missing+=(npm)
  command -v go >/dev/null 2>&1 || missing+=(golang-go)
  # libfaketime: the clock-skew fault test runs the booking processes a minute off.
  command -v faketime >/dev/null 2>&1 || missing+=(faketime)
  # A Postgres built with TLS (the embedded one from PyPI is not): the sslmode tests.
  ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing+=(postgresql)
  # The images and the chart's manifests run as containers: podman with runc (the default crun
  # refuses these machines' cgroups), and debootstrap for a base image without a registry.
  command -v podman >/dev/null 2>&1 || missing+=(podman)
  command -v runc >/dev/null 2>&1 || missing+=(runc)
  command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${missing[*]} from Debian" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "please install: ${missing[*]} (Java 17+ and Maven run the Kafka broker)" >&2
    exit 1
  fi
fi

"${UV[@]}" sync --all-packages --group dev --frozen --quiet
.venv/bin/python -c 'from devstack.kafka import ensure_jars; ensure_jars()'
[ "$MODE" = run ] && exit 0

# The AsyncAPI 3 JSON Schema, from the specification's own package (pinned).
ASYNCAPI_SPECS_VERSION=6.11.1
specs=".cache/asyncapi-specs-${ASYNCAPI_SPECS_VERSION}"
if [ ! -f "$specs/node_modules/@asyncapi/specs/schemas/3.0.0-without-\$id.json" ]; then
  npm install --prefix "$specs" --no-audit --no-fund --silent --no-save \
    "@asyncapi/specs@${ASYNCAPI_SPECS_VERSION}" >/dev/null
fi

# Strimzi's KafkaTopic schema, compiled from its CRD by kubernetes-models (pinned): the chart's
# tests validate the KafkaTopic resources with it.
STRIMZI_MODELS_VERSION=1.0.1
models=".cache/strimzi-models-${STRIMZI_MODELS_VERSION}"
if [ ! -d "$models/node_modules/@kubernetes-models/strimzi-kafka-operator" ]; then
  npm install --prefix "$models" --no-audit --no-fund --silent --no-save \
    "@kubernetes-models/strimzi-kafka-operator@${STRIMZI_MODELS_VERSION}" >/dev/null
fi

# The Compose Specification's JSON Schema, as docker compose itself embeds it (compose-go).
COMPOSE_GO_VERSION=v2.4.9
if [ ! -f .cache/compose-spec/compose-spec.json ]; then
  dir=$(go mod download -json "github.com/compose-spec/compose-go/v2@${COMPOSE_GO_VERSION}" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')
  mkdir -p .cache/compose-spec
  cp "$dir/schema/compose-spec.json" .cache/compose-spec/compose-spec.json
fi

# helm, built from its source on the Go module proxy (the chart's tests run it).
HELM_VERSION=v3.16.3
if [ ! -x ".cache/helm-${HELM_VERSION}/helm" ]; then
  GOBIN="$PWD/.cache/helm-${HELM_VERSION}" GOFLAGS=-mod=mod go install \
    -ldflags "-X helm.sh/helm/v3/internal/version.version=${HELM_VERSION}" \
    "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}"
fi
