"""Inventory commands and replies: the capacity ledger's side of the booking saga."""

from __future__ import annotations

from typing import ClassVar

from contracts.base import Reply
from contracts.common import SagaCommand, StayPeriod


class ReserveCapacity(SagaCommand):
    """Claim ``quantity`` units for the stay. ``party_size`` (guests) is checked against the
    resource's party rules when given; absent, only the other rules apply."""

    type: ClassVar[str] = "inventory.ReserveCapacity"
    resource_id: str
    period: StayPeriod
    quantity: int = 1
    party_size: int | None = None


class CapacityReserved(Reply):
    type: ClassVar[str] = "inventory.CapacityReserved"
    reservation_id: str


class CapacityReservationRejected(Reply):
    type: ClassVar[str] = "inventory.CapacityReservationRejected"
    reason: str
    detail: str = ""


class ConfirmReservation(SagaCommand):
    type: ClassVar[str] = "inventory.ConfirmReservation"
    reservation_id: str


class ReservationConfirmed(Reply):
    type: ClassVar[str] = "inventory.ReservationConfirmed"
    reservation_id: str


class ReservationConfirmationFailed(Reply):
    type: ClassVar[str] = "inventory.ReservationConfirmationFailed"
    reservation_id: str
    reason: str


class ReleaseCapacity(SagaCommand):
    """Compensation of ``ReserveCapacity``. Releasing twice, or releasing nothing, is a no-op."""

    type: ClassVar[str] = "inventory.ReleaseCapacity"
    reservation_id: str | None = None


class CapacityReleased(Reply):
    type: ClassVar[str] = "inventory.CapacityReleased"
    reservation_id: str | None = None
