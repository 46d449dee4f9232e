#!/usr/bin/env bash
# Every package of the workspace declares what it imports (deptry): no module imported that only
# arrives through another package's dependencies (an image built from one package's locked
# requirements would crash at import), and no declared dependency that nothing imports.
set -euo pipefail
cd "$(dirname "$0")/.."
DEPTRY="$PWD/.venv/bin/deptry"
# The workspace's own distributions and the modules they provide.
MAP="booking-contracts=contracts,booking-messaging=messaging,booking-service-kit=service_kit"
MAP+=",booking-devstack=devstack,booking-bpctl=bpctl"
status=0
for pkg in contracts libs/* services/* examples/*; do
  [ -f "$pkg/pyproject.toml" ] || continue
  module=$(find "$pkg/src" -mindepth 1 -maxdepth 1 -type d ! -name '*.egg-info' ! -name '__pycache__' -printf '%f\n' | head -1)
  # fastapi-offline ships files, not imports (service_kit.docs_ui reads them).
  if ! (cd "$pkg" && "$DEPTRY" . --known-first-party "$module" --package-module-name-map "$MAP" \
      --per-rule-ignores "DEP002=fastapi-offline" --no-ansi); then
    echo "deptry: $pkg declares what it imports wrongly (above)" >&2
    status=1
  fi
done
exit $status
