"""Files written from the code (the chart's platform data, the Grafana dashboard): written by a
``make`` target, checked by ``make lint`` with ``--check``."""

from __future__ import annotations

import sys
from pathlib import Path

from devstack.kafka import REPO_ROOT


def write_or_check(target: Path, text: str, argv: list[str], make_target: str) -> int:
    """With ``--check`` in argv: 1 when ``target`` differs from ``text``; else write it."""
    shown = target.relative_to(REPO_ROOT)
    if "--check" in argv:
        if not target.exists() or target.read_text() != text:
            print(f"{shown} is stale; run `make {make_target}`", file=sys.stderr)
            return 1
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    print(f"wrote {shown}")
    return 0
