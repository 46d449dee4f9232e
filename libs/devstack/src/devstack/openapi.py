"""The services' OpenAPI documents, committed under ``docs/api``: ``make openapi`` writes them
from the code (no database, broker or network needed) and the end-to-end suite fails when a
running service serves a document that differs from the committed one.

``python -m devstack.openapi``          write docs/api/<service>.openapi.json
``python -m devstack.openapi --check``  exit 1 when a committed document is stale
"""

from __future__ import annotations

import importlib
import json
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from devstack.platform import SERVICES
from devstack.tokens import DevKeys
from service_kit.runtime import ServiceDefinition

DOCS = Path(__file__).resolve().parents[4] / "docs" / "api"


def offline_definition(service: str) -> ServiceDefinition:
    """The service's definition with settings that let it be built without connecting to
    anything (the app and the consumers open no connection until they run)."""
    if "AUTH_JWKS" not in os.environ:  # any key: nothing offline depends on it
        with tempfile.TemporaryDirectory() as scratch:
            os.environ["AUTH_JWKS"] = DevKeys.load_or_create(Path(scratch)).jwks()
    os.environ.setdefault(
        f"{service.upper()}_DATABASE_URL", "postgresql://offline@127.0.0.1:9/unused"
    )
    os.environ.setdefault("PLATFORM_PROFILE", "development")  # no production keys needed
    definition: ServiceDefinition = importlib.import_module(f"{service}.bootstrap").SERVICE
    return definition


def document(service: str) -> dict[str, Any]:
    """The OpenAPI document the service serves, built offline."""
    doc: dict[str, Any] = offline_definition(service).web_app().openapi()
    return doc


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def path_of(service: str) -> Path:
    return DOCS / f"{service}.openapi.json"


# Strings whose format bounds them (a parser reads at most so much).
_BOUNDED_FORMATS = frozenset({"date", "date-time", "time", "uuid", "duration"})
_OPEN_QUANTIFIER = re.compile(r"[*+]|\{\d*,\}")


def _bounded_pattern(pattern: str | None) -> bool:
    """An anchored pattern with no open-ended repetition matches strings of bounded length."""
    return bool(pattern and pattern.startswith("^") and pattern.endswith("$")) and not (
        _OPEN_QUANTIFIER.search(pattern or "")
    )


def unbounded_inputs(doc: dict[str, Any]) -> list[str]:
    """Where an operation takes input of no stated bound: a string without maxLength (or an
    enum, a bounding format or pattern), an array without maxItems, a map without
    maxProperties, in a path, query, header or body, and a page size (``limit``) without a
    maximum. Each as ``METHOD path where: what``."""
    found: list[str] = []
    schemas = doc.get("components", {}).get("schemas", {})

    def walk(schema: dict[str, Any], where: str, seen: frozenset[str]) -> None:
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            if name not in seen:
                walk(schemas[name], f"{where} ({name})", seen | {name})
            return
        for key in ("anyOf", "oneOf", "allOf"):
            for sub in schema.get(key, []):
                walk(sub, where, seen)
        kind = schema.get("type")
        if kind == "string" and not (
            {"enum", "const", "maxLength"} & schema.keys()
            or schema.get("format") in _BOUNDED_FORMATS
            or _bounded_pattern(schema.get("pattern"))
        ):
            found.append(f"{where}: a string without maxLength")
        if kind == "array":
            if "maxItems" not in schema:
                found.append(f"{where}: an array without maxItems")
            walk(schema.get("items", {}), f"{where}[]", seen)
        for name, sub in schema.get("properties", {}).items():
            walk(sub, f"{where}.{name}", seen)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            if "maxProperties" not in schema:
                found.append(f"{where}: a map without maxProperties")
            walk(extra, f"{where}{{}}", seen)

    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            at = f"{method.upper()} {path}"
            for param in op.get("parameters", []):
                where = f"{at} {param['in']} {param['name']}"
                walk(param.get("schema", {}), where, frozenset())
                if param["name"] == "limit" and "maximum" not in param.get("schema", {}):
                    found.append(f"{where}: a page size without maximum")
            for body in op.get("requestBody", {}).get("content", {}).values():
                walk(body.get("schema", {}), f"{at} body", frozenset())
    return sorted(set(found))


def main(argv: list[str]) -> int:
    stale = []
    for service in SERVICES:
        text = render(document(service))
        target = path_of(service)
        if "--check" in argv:
            if not target.exists() or target.read_text() != text:
                stale.append(service)
        else:
            DOCS.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
    if stale:
        print(f"stale OpenAPI documents: {', '.join(stale)}; run `make openapi`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
