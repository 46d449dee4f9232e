"""One transaction of the booking service, and everything a use case does inside it.

A use case never sees a connection or the outbox: it asks its unit of work for the booking
(tenancy and the guest's ownership are checked there), moves it through the status machine
(row, history, ``booking.*`` event and audit entry together), starts or advances its sagas and
sends commands. What it did is committed when the ``async with`` block ends, or none of it.

:class:`UnitOfWork` is what use cases ask for; :class:`SqlUnitOfWork` does it in Postgres and
the booking service's unit tests do it in memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from booking.adapters import lifecycle, orchestrator, repository, waitlist
from booking.adapters.orchestrator import COMMAND_TOPICS, Timing, saga_data_of
from booking.adapters.quotas import entry_quota, unpaid_quota
from booking.adapters.repository import LockedSaga
from booking.domain.booking import BookingStatus
from booking.domain.saga_data import SagaData
from booking.domain.saga_engine import Decision, Participant, SagaDefinition, start
from booking.settings import BookingSettings
from booking.usecases.rules import check_entry_visible, check_visible, visible
from contracts.booking import WaitlistEvent
from contracts.common import SagaCommand
from contracts.topics import BOOKING_EVENTS
from messaging.outbox import Outbox
from service_kit.audit import Actor
from service_kit.auth import Principal
from service_kit.clock import db_now
from service_kit.ids import canonical_uuid


class UnitOfWork(Protocol):
    async def booking(self, booking_id: str, who: Principal) -> Row[Any]:
        """The booking, locked for this transaction, if ``who`` may see it (404 otherwise)."""

    async def now(self) -> datetime:
        """The database's clock (the transaction's start): the one that decides deadlines."""

    async def create(self, fields: dict[str, Any], actor: Actor) -> Row[Any]:
        """A new booking (version 1) with its first history entry, ``booking.created`` and an
        audit entry; the stored row."""

    async def check_unpaid_quota(self, who: Principal, guest_id: str) -> None:
        """409 when the guest already has as many unpaid bank-transfer bookings as allowed."""

    async def move(
        self,
        booking: Row[Any],
        wanted: BookingStatus,
        actor: Actor,
        *,
        reason: str | None = None,
        fields: dict[str, Any] | None = None,
    ) -> Row[Any]:
        """``booking`` becomes ``wanted`` (IllegalTransition when the status machine forbids
        it), with its history, its ``booking.*`` event and an audit entry; the stored row."""

    async def update(
        self, booking: Row[Any], fields: dict[str, Any], actor: Actor, *, changed: tuple[str, ...]
    ) -> Row[Any]:
        """A change that is no transition (contact details, notes): a new version,
        ``booking.updated`` naming what ``changed``, an audit entry; the stored row."""

    async def bookkeep(
        self, booking: Row[Any], changes: dict[str, Any], actor: Actor, action: str
    ) -> Row[Any]:
        """Facts that are no transition (a modification requested): a new version and an audit
        entry, no event; the stored row."""

    async def active_saga(self, booking_id: str) -> LockedSaga | None:
        """The booking's running (or parked) saga, locked, if it has one."""

    def saga_data(self, booking: Row[Any]) -> SagaData:
        """What a saga of ``booking`` starts from."""

    async def start_saga(
        self, booking_id: str, definition: SagaDefinition, data: SagaData, *, seq: int | None = None
    ) -> None:
        """A new saga of the booking (number ``seq``, by default the next) is stored and its
        first command sent."""

    async def advance(self, saga: LockedSaga, decision: Decision) -> None:
        """Store what the saga engine decided for ``saga`` and send its command."""

    async def next_saga_seq(self, booking_id: str) -> int:
        """The number the booking's next saga will have."""

    async def send(
        self,
        participant: Participant,
        booking: Row[Any],
        command: SagaCommand,
        seq: int,
        note: str,
    ) -> None:
        """A command to ``participant`` outside a saga's own steps, in the booking's saga log."""

    async def audit(self, booking: Row[Any], action: str, actor: Actor) -> None:
        """An audit entry for an action that changes nothing on the row itself."""

    # -- the waitlist ------------------------------------------------------------------------

    async def entry(self, entry_id: str, who: Principal) -> Row[Any]:
        """The waitlist entry, locked, if ``who`` may see it (404 otherwise)."""

    async def check_entry_quota(self, who: Principal, guest_id: str) -> None:
        """409 when the guest already waits as often as allowed."""

    async def add_entry(self, fields: dict[str, Any]) -> Row[Any]:
        """A new waiting entry; the stored row."""

    async def update_entry(self, entry: Row[Any], **changes: Any) -> Row[Any]:
        """The entry changed; the stored row."""

    async def ask_for_offers(self, entries: list[Row[Any]], offer_s: float) -> None:
        """A hold request to inventory for each entry, in queue order."""

    async def release_offer(self, entry: Row[Any]) -> None:
        """The offer's hold is given back to inventory."""

    async def announce_entry(self, entry: Row[Any], event: WaitlistEvent) -> None:
        """An event of the entry on ``booking.events``, keyed by the entry."""


@dataclass
class SqlUnitOfWork:
    conn: AsyncConnection
    outbox: Outbox
    settings: BookingSettings
    _now: datetime | None = field(default=None, init=False)

    @property
    def timing(self) -> Timing:
        return self.settings.timing

    async def booking(self, booking_id: str, who: Principal) -> Row[Any]:
        canonical = canonical_uuid(booking_id)
        row = (
            await repository.load(self.conn, canonical, lock=True, tenant=who.tenant)
            if canonical
            else None
        )
        return check_visible(row, booking_id, who)

    async def now(self) -> datetime:
        if self._now is None:  # now() is the transaction's start: one query is enough
            self._now = await db_now(self.conn)
        return self._now

    async def create(self, fields: dict[str, Any], actor: Actor) -> Row[Any]:
        booking = await repository.insert_booking(self.conn, fields)
        await lifecycle.created(self.conn, self.outbox, booking, actor)
        return booking

    async def check_unpaid_quota(self, who: Principal, guest_id: str) -> None:
        await unpaid_quota(self.settings).enforce(self.conn, who, guest_id)

    async def move(
        self,
        booking: Row[Any],
        wanted: BookingStatus,
        actor: Actor,
        *,
        reason: str | None = None,
        fields: dict[str, Any] | None = None,
    ) -> Row[Any]:
        return await lifecycle.move(
            self.conn, self.outbox, booking, wanted, actor, reason=reason, fields=fields
        )

    async def update(
        self, booking: Row[Any], fields: dict[str, Any], actor: Actor, *, changed: tuple[str, ...]
    ) -> Row[Any]:
        return await lifecycle.update(
            self.conn, self.outbox, booking, fields, actor, changed=changed
        )

    async def bookkeep(
        self, booking: Row[Any], changes: dict[str, Any], actor: Actor, action: str
    ) -> Row[Any]:
        return await lifecycle.bookkeep(self.conn, booking, changes, actor, action, bump=True)

    async def active_saga(self, booking_id: str) -> LockedSaga | None:
        return await repository.lock_active_saga(self.conn, booking_id)

    def saga_data(self, booking: Row[Any]) -> SagaData:
        return saga_data_of(booking)

    async def start_saga(
        self, booking_id: str, definition: SagaDefinition, data: SagaData, *, seq: int | None = None
    ) -> None:
        seq = seq or await repository.next_saga_seq(self.conn, booking_id)
        decision = start(definition, data, seq)
        await orchestrator.begin(
            self.conn, self.outbox, booking_id, decision, self.timing, now=await self.now()
        )

    async def advance(self, saga: LockedSaga, decision: Decision) -> None:
        await orchestrator.apply(self.conn, self.outbox, saga, decision, self.timing)

    async def next_saga_seq(self, booking_id: str) -> int:
        return await repository.next_saga_seq(self.conn, booking_id)

    async def send(
        self,
        participant: Participant,
        booking: Row[Any],
        command: SagaCommand,
        seq: int,
        note: str,
    ) -> None:
        await self.outbox.add(
            self.conn, topic=COMMAND_TOPICS[participant], key=booking.id, message=command
        )
        await repository.log(
            self.conn, booking.id, "command", command.ce_type(), command.step, note, seq
        )

    async def audit(self, booking: Row[Any], action: str, actor: Actor) -> None:
        await repository.audit(self.conn, booking.id, booking.tenant_id, action, actor, None, None)

    async def entry(self, entry_id: str, who: Principal) -> Row[Any]:
        canonical = canonical_uuid(entry_id)
        found = (
            await waitlist.load(self.conn, canonical, tenant=who.tenant, lock=True)
            if canonical
            else None
        )
        return check_entry_visible(found, entry_id, who)

    async def check_entry_quota(self, who: Principal, guest_id: str) -> None:
        await entry_quota(self.settings).enforce(self.conn, who, guest_id)

    async def add_entry(self, fields: dict[str, Any]) -> Row[Any]:
        return await waitlist.insert(self.conn, fields)

    async def update_entry(self, entry: Row[Any], **changes: Any) -> Row[Any]:
        return await waitlist.update(self.conn, entry.id, **changes)

    async def ask_for_offers(self, entries: list[Row[Any]], offer_s: float) -> None:
        await waitlist.ask_for_offers(self.conn, self.outbox, entries, offer_s)

    async def release_offer(self, entry: Row[Any]) -> None:
        await waitlist.release_hold(self.conn, self.outbox, entry)

    async def announce_entry(self, entry: Row[Any], event: WaitlistEvent) -> None:
        await self.outbox.add(self.conn, topic=BOOKING_EVENTS, key=entry.id, message=event)


@dataclass(frozen=True)
class UnitsOfWork:
    """Where a route gets its units of work: ``async with units.begin() as uow``."""

    engine: AsyncEngine
    outbox: Outbox
    settings: BookingSettings

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[SqlUnitOfWork]:
        async with self.engine.begin() as conn:
            yield self.on(conn)

    async def read(self, booking_id: str, who: Principal) -> Row[Any]:
        """The booking as it is now, unlocked, if ``who`` may see it (404 otherwise)."""
        async with self.engine.connect() as conn:
            return await visible(conn, booking_id, who)

    async def read_entry(self, entry_id: str, who: Principal) -> Row[Any]:
        """The waitlist entry as it is now, unlocked, if ``who`` may see it (404 otherwise)."""
        canonical = canonical_uuid(entry_id)
        async with self.engine.connect() as conn:
            found = await waitlist.load(conn, canonical, tenant=who.tenant) if canonical else None
        return check_entry_visible(found, entry_id, who)

    def on(self, conn: AsyncConnection) -> SqlUnitOfWork:
        """A unit of work in a transaction someone else began (the Idempotency-Key protocol
        begins its own)."""
        return SqlUnitOfWork(conn, self.outbox, self.settings)
