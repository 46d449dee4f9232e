"""Schema evolution, checked: what consumers built on an earlier release of the contracts still
read, and what they receive, must keep working.

``contracts/baseline/`` holds the schemas and examples of the last release
(``python -m contracts.compat --freeze`` writes it, deliberately, when a release is cut). The
check compares it with the models as they are now, per message type and the compatibility mode
of its topic (``contracts.catalog``):

* a type never disappears (producers may still send it; retire it by a new version first);
* BACKWARD, every type: each baseline example still validates against the current schema and
  model; no field became required; no field was removed or changed (type, format, bounds,
  enum): a new consumer reads old messages;
* FULL, events: also each current example validates against the baseline schema, and no field
  that was required became optional: an old consumer reads new messages (new optional fields
  are fine, its tolerant reader ignores them).

Anything else is a breaking change: give the message a new version (``booking.confirmed.v2``)
beside the old one instead. ``python -m contracts.compat`` prints the violations.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from contracts.catalog import Compatibility, compatibility
from contracts.examples import all_examples
from contracts.generate import render
from contracts.registry import REGISTRY

BASELINE_DIR = Path(__file__).resolve().parents[2] / "baseline"
DOC_KEYS = {"title", "description", "examples", "default", "$id", "x-ce-type"}


def _resolve(schema: Any, defs: dict[str, Any]) -> Any:
    """The schema with local ``$ref``s to ``$defs`` replaced by what they name."""
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _resolve(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: _resolve(v, defs) for k, v in schema.items() if k != "$defs"}
    if isinstance(schema, list):
        return [_resolve(v, defs) for v in schema]
    return schema


def _rest(schema: dict[str, Any]) -> dict[str, Any]:
    skip = DOC_KEYS | {"properties", "required", "additionalProperties", "anyOf", "items"}
    return {k: v for k, v in schema.items() if k not in skip}


def _compare(old: Any, new: Any, path: str, mode: Compatibility, out: list[str]) -> None:
    if not isinstance(old, dict) or not isinstance(new, dict):
        if old != new:
            out.append(f"{path}: changed")
        return
    if _rest(old) != _rest(new):
        out.append(f"{path}: changed from {_rest(old)} to {_rest(new)}")
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    old_req, new_req = set(old.get("required", [])), set(new.get("required", []))
    for name in sorted(old_props):
        if name not in new_props:
            out.append(f"{path}.{name}: removed")
        else:
            _compare(old_props[name], new_props[name], f"{path}.{name}", mode, out)
    for name in sorted(new_req - old_req):
        out.append(f"{path}.{name}: became required (older messages lack it)")
    if mode is Compatibility.FULL:
        for name in sorted(old_req - new_req):
            out.append(f"{path}.{name}: no longer required (older consumers expect it)")
        added = sorted(set(new_props) - set(old_props))
        if added and old.get("additionalProperties") is False:
            out.append(
                f"{path}: added {', '.join(added)} where older consumers refuse unknown fields"
            )
    if (
        old.get("additionalProperties", True) is not False
        and new.get("additionalProperties") is False
    ):
        out.append(f"{path}: now refuses unknown fields")
    for key in ("anyOf", "items"):
        if key in old or key in new:
            a, b = old.get(key), new.get(key)
            if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
                for i, (x, y) in enumerate(zip(a, b, strict=True)):
                    _compare(x, y, f"{path}[{key}{i}]", mode, out)
            elif isinstance(a, dict) and isinstance(b, dict):
                _compare(a, b, f"{path}[{key}]", mode, out)
            elif a != b:
                out.append(f"{path}: {key} changed")


def _valid(schema: dict[str, Any], instance: Any) -> str | None:
    from jsonschema import Draft202012Validator

    errors = sorted(Draft202012Validator(schema).iter_errors(instance), key=str)
    return errors[0].message if errors else None


def check(
    baseline_schemas: dict[str, dict[str, Any]],
    baseline_examples: dict[str, Any],
    current_schemas: dict[str, dict[str, Any]],
    current_examples: dict[str, Any],
) -> list[str]:
    """Every way the current contracts break consumers of the baseline; empty when none."""
    out: list[str] = []
    for ce_type in sorted(baseline_schemas):
        old = baseline_schemas[ce_type]
        if ce_type not in current_schemas:
            out.append(f"{ce_type}: the type disappeared; keep it until no producer sends it")
            continue
        new = current_schemas[ce_type]
        model = REGISTRY.get(ce_type)
        mode = compatibility(model) if model else Compatibility.BACKWARD
        found: list[str] = []
        _compare(
            _resolve(old, old.get("$defs", {})),
            _resolve(new, new.get("$defs", {})),
            "",
            mode,
            found,
        )
        out += [f"{ce_type}{p}" for p in found]
        if ce_type in baseline_examples:
            error = _valid(new, baseline_examples[ce_type])
            if error:
                out.append(f"{ce_type}: the baseline example no longer validates: {error}")
            elif model is not None:
                try:
                    model.model_validate(baseline_examples[ce_type])
                except ValueError as exc:
                    out.append(f"{ce_type}: the model refuses the baseline example: {exc}")
        if mode is Compatibility.FULL and ce_type in current_examples:
            error = _valid(old, current_examples[ce_type])
            if error:
                out.append(f"{ce_type}: older consumers would refuse the current example: {error}")
    return out


def current() -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    schemas = {name.removesuffix(".json"): json.loads(text) for name, text in render().items()}
    return schemas, all_examples()


def baseline(directory: Path = BASELINE_DIR) -> tuple[dict[str, Any], dict[str, Any]]:
    def load(sub: str) -> dict[str, Any]:
        return {
            p.name.removesuffix(".json"): json.loads(p.read_text())
            for p in sorted((directory / sub).glob("*.json"))
        }

    return load("schemas"), load("examples")


def freeze(directory: Path = BASELINE_DIR) -> int:
    schemas, examples = current()
    for sub, items in (("schemas", schemas), ("examples", examples)):
        (directory / sub).mkdir(parents=True, exist_ok=True)
        for stale in (directory / sub).glob("*.json"):
            stale.unlink()
        for ce_type, doc in items.items():
            (directory / sub / f"{ce_type}.json").write_text(
                json.dumps(doc, indent=2, sort_keys=True) + "\n"
            )
    return len(schemas)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--freeze", action="store_true", help="make the current contracts the baseline"
    )
    args = parser.parse_args(argv)
    if args.freeze:
        print(f"froze {freeze()} message types into {BASELINE_DIR}")
        return 0
    violations = check(*baseline(), *current())
    for line in violations:
        print(line)
    print("compatible" if not violations else f"{len(violations)} breaking changes")
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
