"""Maps a CloudEvents ``type`` (``inventory.ReserveCapacity.v1``) to its model."""

from __future__ import annotations

from contracts import booking, inventory, payment, pricing
from contracts.base import ContractMessage

_MODULES = (inventory, pricing, payment, booking)


def _collect() -> dict[str, type[ContractMessage]]:
    found: dict[str, type[ContractMessage]] = {}
    for module in _MODULES:
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, ContractMessage)
                and "type" in value.__dict__
            ):
                ce_type = value.ce_type()
                if ce_type in found and found[ce_type] is not value:
                    raise RuntimeError(f"duplicate message type {ce_type}")
                found[ce_type] = value
    return found


REGISTRY: dict[str, type[ContractMessage]] = _collect()


def message_class(ce_type: str) -> type[ContractMessage]:
    """The model for a CloudEvents type; ``KeyError`` for a type nobody declared."""
    return REGISTRY[ce_type]
