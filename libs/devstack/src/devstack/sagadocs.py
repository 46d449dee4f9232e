"""``docs/sagas.md``: every saga of the booking service drawn from its definition (Mermaid,
``booking.domain.saga_diagrams``), in the order a booking meets them.

``python -m devstack.sagadocs``          write it (``make sagas``)
``python -m devstack.sagadocs --check``  exit 1 when it is stale (``make lint``)
"""

from __future__ import annotations

import importlib
import sys

from devstack.generated import write_or_check
from devstack.kafka import REPO_ROOT

TARGET = REPO_ROOT / "docs" / "sagas.md"
INTRO = """# The booking sagas

Generated from `services/booking/src/booking/domain/sagas.py` by `make sagas` (`make lint`
fails when this file is stale). Solid arrows: the reply that moves the saga on. Dotted arrows:
where a failure (its reply, or the step's deadline) leads: the compensations of the steps done,
in reverse, or `parked` for an operator (`POST /api/v1/bookings/{id}/saga/retry`), in sagas
that never undo what they did and past a saga's pivot. A compensation that keeps failing parks
too. Each saga is driven by `booking.domain.saga_engine`.
"""


def render() -> str:
    sagas = importlib.import_module("booking.domain.sagas")
    diagrams = importlib.import_module("booking.domain.saga_diagrams")
    parts = [INTRO]
    for name, definition in sagas.DEFINITIONS.items():
        parts.append(f"\n## `{name}`\n\n```mermaid\n{diagrams.mermaid(definition)}```\n")
    return "".join(parts)


def main(argv: list[str]) -> int:
    return write_or_check(TARGET, render(), argv, "sagas")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
