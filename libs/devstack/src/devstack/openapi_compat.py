"""The REST API keeps its published contract: each committed OpenAPI document (``docs/api``)
compared with the released one (``docs/api/baseline``), the way ``contracts.compat`` gates
messages.

A client built against the baseline must keep working, so these are breaking changes:

* an operation (path and method) or a documented response status removed;
* a parameter removed, or required now and not before (a new required one included);
* a request field removed, or required now and not before; a request type narrowed: a type
  no longer accepted, an enum value removed, a format changed, a bound tightened (a lower
  ``maxLength``, ``maxItems`` or ``maximum``, a higher ``minLength``, ``minItems`` or
  ``minimum``, one set where there was none, a pattern changed);
* a response field removed, no longer always present (dropped from ``required``), or its type
  changed; a response type may not widen either (a client reads only what it knew).

Not breaking: new operations, optional parameters and request fields, response fields, enum
values in responses (clients are told to tolerate unknown values: docs/ARCHITECTURE.md, "API
evolution"), looser request bounds, and documentation. A deliberate break takes a new path
version; ``python -m devstack.openapi_compat --freeze`` makes the current documents the
baseline when a release is cut.

``python -m devstack.openapi_compat``  exit 1 and print each break
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

from devstack.openapi import DOCS, path_of
from devstack.platform import SERVICES

BASELINE = DOCS / "baseline"
_METHODS = ("get", "put", "post", "delete", "patch")
# A bound a request schema may carry: whether a greater value tightens it.
_TIGHTER_WHEN_LOWER = ("maxLength", "maxItems", "maximum", "exclusiveMaximum", "maxProperties")
_TIGHTER_WHEN_HIGHER = ("minLength", "minItems", "minimum", "exclusiveMinimum", "minProperties")


class _Doc:
    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.schemas: dict[str, Any] = doc.get("components", {}).get("schemas", {})

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        seen: set[str] = set()
        while "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            if name in seen:
                break
            seen.add(name)
            schema = self.schemas.get(name, {})
        return schema


def _types(doc: _Doc, schema: dict[str, Any]) -> set[str]:
    """The JSON types a schema admits (``null`` included), looking through anyOf/oneOf."""
    schema = doc.resolve(schema)
    alternatives = schema.get("anyOf") or schema.get("oneOf")
    if alternatives:
        return set().union(*(_types(doc, s) for s in alternatives))
    kind = schema.get("type")
    if isinstance(kind, list):
        return set(kind)
    if kind:
        return {kind}
    if "enum" in schema or "const" in schema:
        values = schema.get("enum", [schema.get("const")])
        return {type(v).__name__ for v in values}
    return {"any"}


def _branch(doc: _Doc, schema: dict[str, Any], kind: str) -> dict[str, Any]:
    """The alternative of ``schema`` of JSON type ``kind`` (an object of ``X | None``)."""
    schema = doc.resolve(schema)
    for alternative in schema.get("anyOf") or schema.get("oneOf") or []:
        resolved = doc.resolve(alternative)
        if resolved.get("type") == kind:
            return resolved
    return schema


def _enum(doc: _Doc, schema: dict[str, Any]) -> set[Any] | None:
    schema = doc.resolve(schema)
    if "enum" in schema:
        return set(map(json.dumps, schema["enum"]))
    if "const" in schema:
        return {json.dumps(schema["const"])}
    alternatives = schema.get("anyOf") or schema.get("oneOf")
    if alternatives:
        sets = [_enum(doc, s) for s in alternatives]
        if all(s is not None for s in sets if s is not None) and any(s is not None for s in sets):
            return set().union(*(s for s in sets if s is not None))
    return None


def _request(
    old_doc: _Doc, old: dict[str, Any], new_doc: _Doc, new: dict[str, Any], at: str, out: list[str]
) -> None:
    """What the baseline accepted, the current document must accept."""
    old_types, new_types = _types(old_doc, old), _types(new_doc, new)
    if "any" not in new_types:
        lost = {t for t in old_types - new_types if not (t == "integer" and "number" in new_types)}
        if lost:
            out.append(f"{at}: no longer accepts {sorted(lost)}")
    old_enum, new_enum = _enum(old_doc, old), _enum(new_doc, new)
    if old_enum is not None and new_enum is not None and old_enum - new_enum:
        out.append(f"{at}: no longer accepts {sorted(old_enum - new_enum)}")
    if old_enum is None and new_enum is not None and "string" in old_types:
        out.append(f"{at}: now restricted to {sorted(new_enum)}")
    for kind in sorted(old_types & new_types):
        o, n = _branch(old_doc, old, kind), _branch(new_doc, new, kind)
        if o.get("format") != n.get("format") and n.get("format"):
            out.append(f"{at}: format {o.get('format')} became {n.get('format')}")
        if o.get("pattern") != n.get("pattern") and n.get("pattern"):
            out.append(f"{at}: pattern changed")
        for bound in _TIGHTER_WHEN_LOWER:
            if bound in n and (bound not in o or n[bound] < o[bound]):
                out.append(f"{at}: {bound} {o.get(bound)} became {n[bound]}")
        for bound in _TIGHTER_WHEN_HIGHER:
            if bound in n and (bound not in o or n[bound] > o[bound]):
                out.append(f"{at}: {bound} {o.get(bound)} became {n[bound]}")
        if kind == "object":
            old_props, new_props = o.get("properties", {}), n.get("properties", {})
            closed = n.get("additionalProperties") is False
            for name, sub in old_props.items():
                if name not in new_props:
                    if closed:
                        out.append(f"{at}.{name}: removed")
                    continue
                _request(old_doc, sub, new_doc, new_props[name], f"{at}.{name}", out)
            newly = set(n.get("required", [])) - set(o.get("required", []))
            for name in sorted(newly):
                out.append(f"{at}.{name}: required now")
        if kind == "array":
            _request(old_doc, o.get("items", {}), new_doc, n.get("items", {}), f"{at}[]", out)


def _response(
    old_doc: _Doc, old: dict[str, Any], new_doc: _Doc, new: dict[str, Any], at: str, out: list[str]
) -> None:
    """What a client of the baseline reads, the current document must still send."""
    old_types, new_types = _types(old_doc, old), _types(new_doc, new)
    if "any" not in old_types:
        surprising = {
            t for t in new_types - old_types if not (t == "integer" and "number" in old_types)
        }
        if surprising:
            out.append(f"{at}: may now be {sorted(surprising)}")
    for kind in sorted(old_types & new_types):
        o, n = _branch(old_doc, old, kind), _branch(new_doc, new, kind)
        if kind == "object":
            new_props = n.get("properties", {})
            for name, sub in o.get("properties", {}).items():
                if name not in new_props:
                    out.append(f"{at}.{name}: removed")
                    continue
                _response(old_doc, sub, new_doc, new_props[name], f"{at}.{name}", out)
            dropped = set(o.get("required", [])) - set(n.get("required", []))
            for name in sorted(dropped & set(new_props)):
                out.append(f"{at}.{name}: no longer always present")
        if kind == "array":
            _response(old_doc, o.get("items", {}), new_doc, n.get("items", {}), f"{at}[]", out)


def _json_schema(body: dict[str, Any]) -> dict[str, Any] | None:
    for content_type, media in body.get("content", {}).items():
        if "json" in content_type:
            schema: dict[str, Any] = media.get("schema", {})
            return schema
    return None


def breaks(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Each way ``new`` breaks a client of ``old``."""
    out: list[str] = []
    old_doc, new_doc = _Doc(old), _Doc(new)
    for path, old_ops in old.get("paths", {}).items():
        new_ops = new.get("paths", {}).get(path, {})
        for method in _METHODS:
            if method not in old_ops:
                continue
            at = f"{method.upper()} {path}"
            if method not in new_ops:
                out.append(f"{at}: removed")
                continue
            o, n = old_ops[method], new_ops[method]
            old_params = {(p["in"], p["name"]): p for p in o.get("parameters", [])}
            new_params = {(p["in"], p["name"]): p for p in n.get("parameters", [])}
            for key, param in old_params.items():
                where = f"{at} {key[0]} {key[1]}"
                if key not in new_params:
                    out.append(f"{where}: removed")
                    continue
                if new_params[key].get("required") and not param.get("required"):
                    out.append(f"{where}: required now")
                _request(
                    old_doc,
                    param.get("schema", {}),
                    new_doc,
                    new_params[key].get("schema", {}),
                    where,
                    out,
                )
            for key, param in new_params.items():
                if key not in old_params and param.get("required"):
                    out.append(f"{at} {key[0]} {key[1]}: a new required parameter")
            old_body, new_body = o.get("requestBody"), n.get("requestBody")
            if new_body and new_body.get("required") and not (old_body or {}).get("required"):
                out.append(f"{at} body: required now")
            if old_body and new_body:
                old_schema, new_schema = _json_schema(old_body), _json_schema(new_body)
                if old_schema is not None and new_schema is not None:
                    _request(old_doc, old_schema, new_doc, new_schema, f"{at} body", out)
            for status, old_answer in o.get("responses", {}).items():
                new_answer = n.get("responses", {}).get(status)
                if new_answer is None:
                    out.append(f"{at} {status}: no longer answered")
                    continue
                old_schema, new_schema = _json_schema(old_answer), _json_schema(new_answer)
                if old_schema is not None and new_schema is not None:
                    _response(old_doc, old_schema, new_doc, new_schema, f"{at} {status}", out)
    return out


def baseline_of(service: str) -> Path:
    return BASELINE / f"{service}.openapi.json"


def check() -> dict[str, list[str]]:
    found = {}
    for service in SERVICES:
        old = json.loads(baseline_of(service).read_text())
        new = json.loads(path_of(service).read_text())
        found[service] = breaks(old, new)
    return found


def main(argv: list[str]) -> int:
    if "--freeze" in argv:
        BASELINE.mkdir(parents=True, exist_ok=True)
        for service in SERVICES:
            shutil.copyfile(path_of(service), baseline_of(service))
        return 0
    found = check()
    for service, problems in found.items():
        for problem in problems:
            print(f"{service}: {problem}", file=sys.stderr)
    return 1 if any(found.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
