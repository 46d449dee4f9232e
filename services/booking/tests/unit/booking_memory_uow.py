"""The booking service's unit of work in memory: bookings in a dict, and a record of what the
use case did (moves, sagas started and advanced, commands sent, audit entries). It keeps the
rules the SQL one keeps: a booking is read within the caller's tenant and shown to a guest only
if it is theirs (the same ``check_visible``), a move goes through the status machine and bumps
the version, and a booking has at most one active saga."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from booking.adapters.orchestrator import saga_data_of
from booking.adapters.repository import LockedSaga
from booking.domain.booking import STAMPS, BookingStatus, transition
from booking.domain.saga_data import SagaData
from booking.domain.saga_engine import Decision, Participant, SagaDefinition, start
from booking.usecases.open_booking import Place, Terms
from booking.usecases.rules import check_entry_visible, check_visible
from contracts.common import SagaCommand
from service_kit.audit import Actor
from service_kit.auth import Principal, Role

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)

# Who asks, in the tests of the use cases.
GUEST = Principal(subject="g-1", tenant="t-1", roles=frozenset({Role.GUEST}))
OTHER_GUEST = Principal(subject="g-2", tenant="t-1", roles=frozenset({Role.GUEST}))
STAFF = Principal(subject="desk", tenant="t-1", roles=frozenset({Role.STAFF}))
ADMIN = Principal(subject="boss", tenant="t-1", roles=frozenset({Role.ADMIN}))
# A two-night stay as inventory resolves it, and the terms bookings are opened under.
STAY = Place(
    venue_id="v-1",
    timezone="Europe/Lisbon",
    name="Casa Azul",
    when={
        "check_in": date(2027, 3, 10),
        "check_out": date(2027, 3, 12),
        "starts_at": None,
        "ends_at": None,
    },
)
TERMS = Terms(payment_deadline_s=1800, claim_hold_s=2400)


@dataclass(frozen=True)
class Booking:
    """The fields of a booking row the use cases read."""

    id: str
    tenant_id: str = "t-1"
    guest_id: str = "g-1"
    status: str = BookingStatus.CONFIRMED.value
    version: int = 1
    resource_id: str = "r-1"
    check_in: date = date(2027, 3, 10)
    check_out: date = date(2027, 3, 12)
    venue_id: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    timezone: str | None = None
    slot_id: str | None = None
    party: dict[str, int] = field(default_factory=lambda: {"adults": 2, "children": 0})
    payment_method: str = "card"
    payment_id: str | None = "p-1"
    reservation_id: str | None = "res-1"
    unit_id: str | None = None
    quote_id: str | None = "q-1"
    total_amount: Decimal | None = Decimal("300.00")
    currency: str | None = "EUR"
    paid_amount: Decimal | None = Decimal("300.00")
    refunded_amount: Decimal | None = None
    modification: dict[str, Any] | None = None
    guest: dict[str, Any] = field(
        default_factory=lambda: {"name": "Ana", "email": "ana@example.com", "locale": None}
    )
    special_requests: str | None = None
    dietary_notes: str | None = None
    cancel_reason: str | None = None
    cancelled_by: str | None = None
    cancelled_at: datetime | None = None
    checked_in_at: datetime | None = None
    completed_at: datetime | None = None
    no_show_at: datetime | None = None


@dataclass(frozen=True)
class Entry:
    """The fields of a waitlist entry the use cases read."""

    id: str
    tenant_id: str = "t-1"
    guest_id: str = "g-1"
    resource_id: str = "r-1"
    slot_id: str | None = None
    check_in: date = date(2027, 3, 10)
    check_out: date = date(2027, 3, 12)
    party: dict[str, int] = field(default_factory=lambda: {"adults": 2, "children": 0})
    priority: int = 0
    contact: dict[str, Any] = field(
        default_factory=lambda: {"name": "Ana", "email": "ana@example.com", "locale": None}
    )
    status: str = "waiting"
    hold_id: str | None = None
    offer_expires_at: datetime | None = None
    booking_id: str | None = None


@dataclass
class MemoryUnitOfWork:
    bookings: dict[str, Booking] = field(default_factory=dict)
    sagas: dict[str, LockedSaga] = field(default_factory=dict)  # the active one, by booking
    now_is: datetime = NOW
    moves: list[tuple[str, str, str | None]] = field(default_factory=list)
    started: list[tuple[str, SagaData, int]] = field(default_factory=list)  # name, data, seq
    bookkept: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    created: list[dict[str, Any]] = field(default_factory=list)  # the fields, as given
    updated: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)  # id, changed
    quotas_checked: list[str] = field(default_factory=list)  # guests
    entries: dict[str, Entry] = field(default_factory=dict)
    offers_asked: list[str] = field(default_factory=list)  # entry ids
    offers_released: list[str] = field(default_factory=list)
    announced: list[Any] = field(default_factory=list)
    advanced: list[Decision] = field(default_factory=list)
    sent: list[tuple[Participant, SagaCommand, str]] = field(default_factory=list)
    audited: list[tuple[str, str]] = field(default_factory=list)

    def add(self, booking: Booking) -> Booking:
        self.bookings[booking.id] = booking
        return booking

    def run_saga(self, booking: Booking, definition: SagaDefinition) -> LockedSaga:
        """``booking`` has a saga of ``definition`` in its first step."""
        state = start(definition, saga_data_of(booking)).state
        saga = LockedSaga(id=f"s-{booking.id}", booking_id=booking.id, state=state)
        self.sagas[booking.id] = saga
        return saga

    @property
    def changed(self) -> bool:
        return bool(
            self.created
            or self.offers_asked
            or self.offers_released
            or self.announced
            or self.updated
            or self.moves
            or self.bookkept
            or self.started
            or self.advanced
            or self.sent
            or self.audited
        )

    async def booking(self, booking_id: str, who: Principal) -> Any:
        found = self.bookings.get(booking_id)
        mine = found if found is not None and found.tenant_id == who.tenant else None
        return check_visible(mine, booking_id, who)  # type: ignore[arg-type]

    async def now(self) -> datetime:
        return self.now_is

    async def move(
        self,
        booking: Any,
        wanted: BookingStatus,
        actor: Actor,
        *,
        reason: str | None = None,
        fields: dict[str, Any] | None = None,
    ) -> Any:
        transition(BookingStatus(booking.status), wanted)
        changes: dict[str, Any] = {**(fields or {}), "status": wanted.value}
        if wanted in STAMPS:
            changes[STAMPS[wanted]] = self.now_is
        moved = replace(booking, version=booking.version + 1, **changes)
        self.bookings[moved.id] = moved
        self.moves.append((moved.id, wanted.value, reason))
        self.audited.append((moved.id, f"status:{wanted.value}"))
        return moved

    async def update(
        self, booking: Any, fields: dict[str, Any], actor: Actor, *, changed: tuple[str, ...]
    ) -> Any:
        updated = replace(booking, version=booking.version + 1, **fields)
        self.bookings[updated.id] = updated
        self.updated.append((updated.id, changed))
        self.audited.append((updated.id, "update"))
        return updated

    async def bookkeep(
        self, booking: Any, changes: dict[str, Any], actor: Actor, action: str
    ) -> Any:
        kept = replace(booking, version=booking.version + 1, **changes)
        self.bookings[kept.id] = kept
        self.bookkept.append((kept.id, action, changes))
        self.audited.append((kept.id, action))
        return kept

    async def active_saga(self, booking_id: str) -> LockedSaga | None:
        return self.sagas.get(booking_id)

    def saga_data(self, booking: Any) -> SagaData:
        return saga_data_of(booking)

    async def start_saga(
        self, booking_id: str, definition: SagaDefinition, data: SagaData, *, seq: int | None = None
    ) -> None:
        assert booking_id not in self.sagas, "a booking has one active saga at most"
        seq = seq or await self.next_saga_seq(booking_id)
        self.started.append((definition.name, data, seq))

    async def create(self, fields: dict[str, Any], actor: Actor) -> Any:
        known = {f.name for f in dataclasses.fields(Booking)}
        booking = Booking(**{k: v for k, v in fields.items() if k in known})
        self.created.append(fields)
        return self.add(booking)

    async def check_unpaid_quota(self, who: Principal, guest_id: str) -> None:
        self.quotas_checked.append(guest_id)

    async def advance(self, saga: LockedSaga, decision: Decision) -> None:
        self.advanced.append(decision)

    async def next_saga_seq(self, booking_id: str) -> int:
        return 2

    async def send(
        self,
        participant: Participant,
        booking: Any,
        command: SagaCommand,
        seq: int,
        note: str,
    ) -> None:
        self.sent.append((participant, command, note))

    async def audit(self, booking: Any, action: str, actor: Actor) -> None:
        self.audited.append((booking.id, action))

    # -- the waitlist ------------------------------------------------------------------------

    async def entry(self, entry_id: str, who: Principal) -> Any:
        found = self.entries.get(entry_id)
        mine = found if found is not None and found.tenant_id == who.tenant else None
        return check_entry_visible(mine, entry_id, who)  # type: ignore[arg-type]

    async def check_entry_quota(self, who: Principal, guest_id: str) -> None:
        self.quotas_checked.append(guest_id)

    async def add_entry(self, fields: dict[str, Any]) -> Any:
        entry = Entry(id=f"e-{len(self.entries) + 1}", **fields)
        self.entries[entry.id] = entry
        return entry

    async def update_entry(self, entry: Any, **changes: Any) -> Any:
        changed = replace(entry, **changes)
        self.entries[changed.id] = changed
        return changed

    async def ask_for_offers(self, entries: list[Any], offer_s: float) -> None:
        self.offers_asked += [e.id for e in entries]

    async def release_offer(self, entry: Any) -> None:
        self.offers_released.append(entry.id)

    async def announce_entry(self, entry: Any, event: Any) -> None:
        self.announced.append(event)
