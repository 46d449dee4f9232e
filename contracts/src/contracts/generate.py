"""Writes one JSON Schema per message to ``contracts/schemas/`` (``python -m contracts.generate``).

The committed files are checked against the models by the contract tests, so a model change
without regenerated schemas fails CI.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from contracts.registry import REGISTRY

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"


def render() -> dict[str, str]:
    out: dict[str, str] = {}
    for ce_type, model in sorted(REGISTRY.items()):
        schema = model.model_json_schema(mode="serialization")
        schema["$id"] = f"urn:booking-platform:schema:{ce_type}"
        schema["x-ce-type"] = ce_type
        out[f"{ce_type}.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return out


def main() -> int:
    SCHEMA_DIR.mkdir(exist_ok=True)
    rendered = render()
    for stale in SCHEMA_DIR.glob("*.json"):
        if stale.name not in rendered:
            stale.unlink()
    for name, text in rendered.items():
        (SCHEMA_DIR / name).write_text(text)
    print(f"wrote {len(rendered)} schemas to {SCHEMA_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
