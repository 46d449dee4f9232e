"""Build N+1, for the version-skew test: a process started with this directory first on its
PYTHONPATH runs the platform with contracts one release newer: ``ReserveCapacity`` carries an
optional ``priority`` and ``CapacityReserved`` an optional ``note``, both sent whenever this
build writes one. Old builds (N) must apply them all the same (tolerant readers)."""

from __future__ import annotations

from typing import ClassVar

import contracts.inventory as inventory


class ReserveCapacity(inventory.ReserveCapacity):
    type: ClassVar[str] = "inventory.ReserveCapacity"
    priority: int = 1


class CapacityReserved(inventory.CapacityReserved):
    type: ClassVar[str] = "inventory.CapacityReserved"
    note: str = "written by build N+1"


ReserveCapacity.__name__ = "ReserveCapacity"
CapacityReserved.__name__ = "CapacityReserved"
inventory.ReserveCapacity = ReserveCapacity  # type: ignore[misc]
inventory.CapacityReserved = CapacityReserved  # type: ignore[misc]
# The registry may have been built already (importing the contracts package builds it).
from contracts.registry import REGISTRY  # noqa: E402

REGISTRY[ReserveCapacity.ce_type()] = ReserveCapacity
REGISTRY[CapacityReserved.ce_type()] = CapacityReserved
