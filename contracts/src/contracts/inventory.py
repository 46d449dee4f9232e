"""Inventory commands and replies: the capacity ledger's side of the booking saga."""

from __future__ import annotations

from datetime import date
from typing import ClassVar

from pydantic import AwareDatetime, Field

from contracts.base import Event, Reply
from contracts.common import SagaCommand, StayPeriod


class ReserveCapacity(SagaCommand):
    """Claim ``quantity`` units for the stay. ``party_size`` (guests) is checked against the
    resource's party rules when given; absent, only the other rules apply.

    With ``slot_id``, the claim is on that slot's seats instead (``party_size`` seats, or
    ``quantity`` when the party size is not given); ``period`` is then the slot's local date.

    Added within v1 (optional):

    * ``claim_key`` - what makes the command idempotent (default: the booking id). A booking
      that needs a second claim (a modification, a late payment) names it differently.
    * ``hold_id`` - a hold placed earlier (checkout: hold, then book) becomes the booking's claim
      instead of a new one, if it is still held, by ``holder``, for this resource and time.
    * ``hold_seconds`` - how long the claim stays held unless confirmed (default: the inventory
      service's hold TTL); an unpaid bank-transfer booking holds until its payment deadline.
    * ``tenant_id`` - the booking's tenant: a resource of another tenant does not exist.
    * ``replaces`` - the reservation this claim replaces (a modification): capacity the two have
      in common (the same nights of the same unit, seats of the same slot) is counted once
      while both are held, and stays with whichever is kept when the other is released.
    * ``hold_only`` - a hold for ``holder`` that belongs to no booking until a booking adopts it
      (a waitlist offer); ``booking_id`` then only addresses the reply.
    """

    type: ClassVar[str] = "inventory.ReserveCapacity"
    resource_id: str
    period: StayPeriod
    quantity: int = 1
    party_size: int | None = None
    slot_id: str | None = None
    claim_key: str | None = Field(default=None, min_length=1, max_length=200)
    hold_id: str | None = None
    holder: str | None = None
    hold_seconds: int | None = Field(default=None, gt=0, le=7 * 24 * 3600)
    replaces: str | None = None
    hold_only: bool = False

    @property
    def key(self) -> str:
        return self.claim_key or self.booking_id


class CapacityReserved(Reply):
    type: ClassVar[str] = "inventory.CapacityReserved"
    reservation_id: str
    resource_id: str | None = None  # the unit allocated (differs from the request for a group)
    expires_at: AwareDatetime | None = None  # the claim is held until then unless confirmed


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
    """Compensation of ``ReserveCapacity``, and the end of a claim a booking no longer needs
    (cancelled, moved by a modification). Names the claim by ``reservation_id`` or, when the
    reservation's answer never arrived, by ``claim_key`` (default: the booking id). Releasing
    twice, or releasing nothing, is a no-op."""

    type: ClassVar[str] = "inventory.ReleaseCapacity"
    reservation_id: str | None = None
    claim_key: str | None = Field(default=None, min_length=1, max_length=200)

    @property
    def key(self) -> str:
        return self.claim_key or self.booking_id


class CapacityReleased(Reply):
    type: ClassVar[str] = "inventory.CapacityReleased"
    reservation_id: str | None = None


class InventoryEvent(Event):
    """Public inventory events on ``inventory.events``, keyed by resource id. Added within v1
    (optional): ``slot_id`` - the claim was on seats of that slot (``check_in`` is its local
    day); ``tenant_id`` - the resource's tenant."""

    resource_id: str
    claim_id: str
    booking_id: str | None = None
    check_in: date
    claimed_until: date  # exclusive end of the nights given back (stay plus buffer)
    quantity: int
    occurred_at: AwareDatetime
    slot_id: str | None = None
    tenant_id: str | None = None


class CapacityReleasedEvent(InventoryEvent):
    """Units became free again: a release, a deleted hold or an expiry (``why``)."""

    type: ClassVar[str] = "inventory.capacity_released"
    why: str


class HoldExpired(InventoryEvent):
    """A hold (or a saga's unconfirmed reservation) passed its expiry and was released."""

    type: ClassVar[str] = "inventory.hold_expired"


class ExtendHold(SagaCommand):
    """Keep a held claim (not yet confirmed) for ``seconds`` more from now, e.g. while a payment
    needs the guest's action."""

    type: ClassVar[str] = "inventory.ExtendHold"
    reservation_id: str
    seconds: int


class HoldExtended(Reply):
    type: ClassVar[str] = "inventory.HoldExtended"
    reservation_id: str
    expires_at: AwareDatetime


class HoldExtensionRefused(Reply):
    type: ClassVar[str] = "inventory.HoldExtensionRefused"
    reservation_id: str
    reason: str
