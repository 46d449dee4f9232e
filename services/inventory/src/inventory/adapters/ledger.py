"""The capacity ledger: claims (holds and saga reservations) over nightly capacity.

Rules (see docs/ARCHITECTURE.md, "Capacity"):

* ``capacity_nights`` carries ``CHECK (reserved <= capacity)``: no interleaving of transactions
  can oversell a night; code only decides how to answer when Postgres refuses.
* Nights are locked in ascending date order (one ``INSERT ... ORDER BY``), so overlapping claims
  may wait on each other but never deadlock.
* A claim takes all its nights (stay plus turnover buffer) in one statement inside a savepoint:
  every night fits or none is taken.
* An expired hold never blocks: before taking nights, a claim expires the stale holds that
  overlap it, in its own transaction (rows another transaction is already expiring are skipped;
  their nights are locked, so the new claim waits for that transaction and sees its result).
  The expiry job does the same for everything else, ``FOR UPDATE SKIP LOCKED``, in any number of
  replicas.
* Every release (saga compensation, deleted hold, expiry) publishes ``CapacityReleased`` on
  ``inventory.events``; an expiry also publishes ``HoldExpired``.
* A claim may *replace* another (a booking's modification claims the new time while the old
  claim still holds). What the two share (the same nights of the same unit, the same seats of a
  slot, an exclusive unit's blocked range on the same slot) is counted once; releasing either
  gives back only what the other does not share.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from contracts.inventory import CapacityReleasedEvent, HoldExpired
from contracts.topics import INVENTORY_EVENTS
from inventory.domain.resources import (
    BookingMode,
    HoldNotUsable,
    InsufficientCapacity,
    InventoryRuleBroken,
    ResourceInactive,
    ResourceView,
    RulesBroken,
    SlotCancelled,
    SlotNotFound,
    ensure_active,
    ensure_bookable,
)
from inventory.domain.rules import AvailabilityRules, Blackout, check_slot, claimed_until
from messaging.outbox import Outbox
from service_kit.clock import db_now

_TAKE_NIGHTS = text(
    """
    INSERT INTO capacity_nights (resource_id, night, capacity, reserved)
    SELECT CAST(:rid AS uuid), d::date, :capacity, :quantity
    FROM generate_series(CAST(:check_in AS date), CAST(:until AS date) - 1, interval '1 day') AS d
    WHERE NOT (d::date >= CAST(:shared_from AS date) AND d::date < CAST(:shared_until AS date))
          OR CAST(:shared_from AS date) IS NULL
    ORDER BY d
    ON CONFLICT (resource_id, night)
    DO UPDATE SET reserved = capacity_nights.reserved + EXCLUDED.reserved
    """
)

_GIVE_BACK_NIGHTS = text(
    """
    UPDATE capacity_nights SET reserved = reserved - :quantity
    WHERE (resource_id, night) IN (
        SELECT resource_id, night FROM capacity_nights
        WHERE resource_id = CAST(:rid AS uuid) AND night >= :check_in AND night < :until
          AND (CAST(:shared_from AS date) IS NULL
               OR NOT (night >= CAST(:shared_from AS date) AND night < CAST(:shared_until AS date)))
        ORDER BY night
        FOR UPDATE
    )
    """
)

CLAIM_COLUMNS = (
    "id::text, booking_id, resource_id::text, status, check_in, check_out, claimed_until, "
    "quantity, holder, expires_at, group_id::text, slot_id::text, claim_key, replaces::text, "
    "tenant_id"
)

# Per night: units taken, minus those of holds that have expired but are not swept yet.
_EFFECTIVE_RESERVED = text(
    """
    SELECT d::date AS night,
           COALESCE(n.reserved, 0) - COALESCE((
               SELECT sum(c.quantity) FROM reservations c
               WHERE c.resource_id = CAST(:rid AS uuid) AND c.status = 'held'
                 AND c.expires_at <= :now AND c.check_in <= d::date AND c.claimed_until > d::date
           ), 0) AS reserved
    FROM generate_series(CAST(:start AS date), CAST(:end AS date) - 1, interval '1 day') AS d
    LEFT JOIN capacity_nights n ON n.resource_id = CAST(:rid AS uuid) AND n.night = d::date
    ORDER BY d
    """
)


@dataclass(frozen=True)
class Claim:
    id: str
    booking_id: str | None
    resource_id: str
    status: str  # held | confirmed | released | expired
    check_in: date
    check_out: date
    claimed_until: date
    quantity: int
    holder: str | None
    expires_at: datetime | None
    group_id: str | None = None  # the group the claim was made on, if any
    slot_id: str | None = None  # a claim on seats of a slot (otherwise on nights)
    claim_key: str | None = None  # a saga's claim: what makes reserving it idempotent
    replaces: str | None = None  # the claim this one replaces (a modification)
    tenant_id: str | None = None  # the resource's tenant

    @property
    def active(self) -> bool:
        return self.status in ("held", "confirmed")

    def shared_nights(self, other: Claim | None) -> tuple[date | None, date | None]:
        """The nights (buffers included) this nights claim has in common with ``other``."""
        if self.slot_id is not None:
            return None, None
        return _range_shared(other, self.resource_id, self.check_in, self.claimed_until)

    def shared_seats(self, other: Claim | None) -> int:
        """Seats this slot claim has in common with ``other`` (a claim on the same slot)."""
        if other is None or self.slot_id is None or other.slot_id != self.slot_id:
            return 0
        return min(self.quantity, other.quantity)


async def load_resource(
    conn: AsyncConnection,
    resource_id: str,
    *,
    share_lock: bool = False,
    tenant: str | None = None,
) -> ResourceView | None:
    """``share_lock``: hold the resource row FOR SHARE until commit, so a capacity change
    (which locks it FOR UPDATE) waits for in-flight claims and later claims see the new capacity.
    Claims do not block each other. ``tenant``: a resource of another tenant does not exist."""
    try:
        uuid.UUID(resource_id)
    except ValueError:
        return None
    row = (
        await conn.execute(
            text(
                "SELECT id::text, active, booking_mode, capacity, timezone, rules, tenant_id, "
                "venue_id FROM resources WHERE id = :id"
                + (" AND tenant_id = :t" if tenant is not None else "")
                + (" FOR SHARE" if share_lock else "")
            ),
            {"id": resource_id, "t": tenant},
        )
    ).first()
    if row is None:
        return None
    return ResourceView(
        row.id,
        row.active,
        BookingMode(row.booking_mode),
        row.capacity,
        row.timezone,
        AvailabilityRules.from_json(row.rules),
        row.tenant_id,
        row.venue_id,
    )


async def blackouts_for(
    conn: AsyncConnection, resource: ResourceView, start: date, end: date
) -> tuple[Blackout, ...]:
    """The blackouts over [start, end) that apply to the resource: its own, its venue's and its
    tenant's."""
    rows = await conn.execute(
        text(
            "SELECT id::text, kind, reason, starts_on, ends_on FROM blackouts "
            "WHERE tenant_id = :t AND starts_on < :end AND ends_on > :start AND ("
            "  (scope = 'resource' AND resource_id = CAST(:r AS uuid)) OR"
            "  (scope = 'venue' AND venue_id = :v) OR scope = 'tenant') ORDER BY starts_on"
        ),
        {
            "t": resource.tenant_id,
            "r": resource.id,
            "v": resource.venue_id,
            "start": start,
            "end": end,
        },
    )
    return tuple(Blackout(*r) for r in rows)


async def group_members(
    conn: AsyncConnection, group_id: str, start: date, end: date, tenant: str | None = None
) -> list[str] | None:
    """The active units of a group, least loaded over [start, end) first; None when
    ``group_id`` is not a group (of ``tenant``, when given)."""
    try:
        uuid.UUID(group_id)
    except ValueError:
        return None
    exists = await conn.execute(
        text(
            "SELECT 1 FROM resource_groups WHERE id = CAST(:g AS uuid)"
            + (" AND tenant_id = :t" if tenant is not None else "")
        ),
        {"g": group_id, "t": tenant},
    )
    if exists.first() is None:
        return None
    rows = await conn.execute(
        text(
            "SELECT r.id::text FROM resources r WHERE r.group_id = CAST(:g AS uuid) AND r.active "
            "ORDER BY (SELECT COALESCE(sum(n.reserved), 0) FROM capacity_nights n "
            "WHERE n.resource_id = r.id AND n.night >= :s AND n.night < :e), r.id"
        ),
        {"g": group_id, "s": start, "e": end},
    )
    return [r[0] for r in rows]


async def effective_reserved(
    conn: AsyncConnection, resource_id: str, start: date, end: date, now: datetime
) -> dict[date, int]:
    """Units taken per night in [start, end), not counting expired holds."""
    rows = await conn.execute(
        _EFFECTIVE_RESERVED, {"rid": resource_id, "start": start, "end": end, "now": now}
    )
    return {r.night: r.reserved for r in rows}


# With a tenant given, another tenant's claim is not found.
_OF_TENANT = " AND (CAST(:t AS text) IS NULL OR tenant_id = :t)"


async def claim_by_key(
    conn: AsyncConnection, claim_key: str, *, tenant: str | None = None
) -> Claim | None:
    """A saga's claim by its key (a booking id, or a booking's later claim), locked."""
    row = (
        await conn.execute(
            text(
                f"SELECT {CLAIM_COLUMNS} FROM reservations WHERE claim_key = :k"
                + _OF_TENANT
                + " FOR UPDATE"
            ),
            {"k": claim_key, "t": tenant},
        )
    ).first()
    return Claim(*row) if row else None


async def saga_claim(
    conn: AsyncConnection,
    booking_id: str,
    reservation_id: str | None,
    claim_key: str,
    tenant: str | None,
) -> Claim | None:
    """The claim a saga command names: by reservation id when it has one (it must belong to the
    booking), else by claim key; of ``tenant`` (the command's). Locked."""
    if reservation_id:
        claim = await claim_by_id(conn, reservation_id, tenant=tenant)
        return claim if claim is not None and claim.booking_id == booking_id else None
    return await claim_by_key(conn, claim_key, tenant=tenant)


async def claim_by_id(
    conn: AsyncConnection, claim_id: str, *, lock: bool = True, tenant: str | None = None
) -> Claim | None:
    try:
        uuid.UUID(claim_id)
    except ValueError:
        return None
    row = (
        await conn.execute(
            text(
                f"SELECT {CLAIM_COLUMNS} FROM reservations WHERE id = CAST(:id AS uuid)"
                + _OF_TENANT
                + (" FOR UPDATE" if lock else "")
            ),
            {"id": claim_id, "t": tenant},
        )
    ).first()
    return Claim(*row) if row else None


@dataclass(frozen=True)
class ClaimRequest:
    check_in: date
    check_out: date
    quantity: int
    now: datetime
    ttl: timedelta
    party_size: int | None
    booking_id: str | None
    holder: str | None
    tenant: str | None
    claim_key: str | None = None
    replaces: Claim | None = None  # an active claim this one replaces


async def replaced_claim(
    conn: AsyncConnection, booking_id: str, claim_id: str | None
) -> Claim | None:
    """The active claim of ``booking_id`` a new claim replaces (None when it is not active)."""
    if claim_id is None:
        return None
    claim = await claim_by_id(conn, claim_id)
    return claim if claim is not None and claim.active and claim.booking_id == booking_id else None


def _range_shared(
    replaced: Claim | None, resource_id: str, start: date, until: date
) -> tuple[date | None, date | None]:
    """The nights [start, until) of ``resource_id`` a replaced claim already counts."""
    if replaced is None or replaced.resource_id != resource_id or replaced.slot_id is not None:
        return None, None
    lo, hi = max(start, replaced.check_in), min(until, replaced.claimed_until)
    return (lo, hi) if lo < hi else (None, None)


async def _partner(conn: AsyncConnection, claim: Claim) -> Claim | None:
    """The active claim sharing capacity with ``claim``: the one it replaces, or its replacement."""
    row = (
        await conn.execute(
            text(
                f"SELECT {CLAIM_COLUMNS} FROM reservations WHERE status IN ('held', 'confirmed') "
                "AND id <> CAST(:id AS uuid) AND (id = CAST(:r AS uuid) OR replaces = CAST(:id AS uuid)) "
                "ORDER BY id LIMIT 1 FOR UPDATE"
            ),
            {"id": claim.id, "r": claim.replaces},
        )
    ).first()
    return Claim(*row) if row else None


@dataclass(frozen=True)
class Ledger:
    outbox: Outbox

    async def claim(
        self,
        conn: AsyncConnection,
        *,
        resource_id: str,
        check_in: date,
        check_out: date,
        quantity: int,
        now: datetime,
        ttl: timedelta,
        party_size: int | None = None,
        booking_id: str | None = None,
        holder: str | None = None,
        tenant: str | None = None,
        claim_key: str | None = None,
        replaces: Claim | None = None,
    ) -> Claim:
        """Hold ``quantity`` units on every night of the stay and its turnover buffer until
        ``now + ttl``, or raise a named rule violation (availability rules included). With
        ``tenant``, a resource or group of another tenant does not exist.

        Idempotent per claim key (default: the booking id): a second claim with the same key
        returns the first. With ``replaces``, the nights the new claim has in common with that
        claim on the same unit are not taken again (a group tries that unit first).
        """
        key = claim_key or booking_id
        if key is not None:
            existing = await claim_by_key(conn, key)
            if existing is not None:
                return existing
        unit = ClaimRequest(
            check_in,
            check_out,
            quantity,
            now,
            ttl,
            party_size,
            booking_id,
            holder,
            tenant,
            key,
            replaces,
        )
        members = await group_members(conn, resource_id, check_in, check_out, tenant)
        if members is None:  # not a group: the resource itself
            return await self._claim_unit(conn, resource_id, None, unit)
        if not members:
            raise ResourceInactive(f"group {resource_id} has no active unit")
        if replaces is not None and replaces.resource_id in members:  # stay in the same unit
            members.remove(replaces.resource_id)
            members.insert(0, replaces.resource_id)
        refusals: list[InventoryRuleBroken] = []
        for member in members:  # least loaded first; each try is all-or-nothing
            attempt = await conn.begin_nested()
            try:
                claim = await self._claim_unit(conn, member, resource_id, unit)
            except InventoryRuleBroken as refused:
                await attempt.rollback()
                refusals.append(refused)
                continue
            await attempt.commit()
            return claim
        full = [r for r in refusals if isinstance(r, InsufficientCapacity)]
        if full:
            raise InsufficientCapacity(f"no unit of group {resource_id} is free for the stay")
        raise refusals[0]

    async def _claim_unit(
        self, conn: AsyncConnection, resource_id: str, group_id: str | None, req: ClaimRequest
    ) -> Claim:
        check_in, check_out, quantity, now = req.check_in, req.check_out, req.quantity, req.now
        found = await load_resource(conn, resource_id, share_lock=True, tenant=req.tenant)
        blackouts = await blackouts_for(conn, found, check_in, check_out) if found else ()
        resource = ensure_bookable(
            found,
            resource_id,
            quantity,
            stay=(check_in, check_out),
            party_size=req.party_size,
            now=now,
            blackouts=blackouts,
        )
        until = claimed_until(check_out, resource.rules)
        await self._expire_stale_overlapping(conn, resource.id, check_in, until, now)
        shared_from, shared_until = _range_shared(req.replaces, resource.id, check_in, until)
        savepoint = await conn.begin_nested()
        try:
            await conn.execute(
                _TAKE_NIGHTS,
                {
                    "rid": resource.id,
                    "capacity": resource.capacity,
                    "quantity": quantity,
                    "check_in": check_in,
                    "until": until,
                    "shared_from": shared_from,
                    "shared_until": shared_until,
                },
            )
        except IntegrityError as exc:
            await savepoint.rollback()
            if "capacity_nights_not_oversold" in str(exc.orig):
                raise InsufficientCapacity(
                    f"not enough capacity between {check_in} and {until}"
                    + (" (stay and turnover buffer)" if until != check_out else "")
                ) from None
            raise
        await savepoint.commit()
        row = (
            await conn.execute(
                text(
                    "INSERT INTO reservations (id, booking_id, claim_key, holder, resource_id, "
                    "group_id, check_in, check_out, claimed_until, quantity, status, expires_at, "
                    "replaces) VALUES (:id, :b, :k, :h, :r, :g, :ci, :co, :cu, :q, 'held', :exp, "
                    f"CAST(:rep AS uuid)) RETURNING {CLAIM_COLUMNS}"
                ),
                {
                    "id": str(uuid.uuid4()),
                    "rep": req.replaces.id if req.replaces else None,
                    "b": req.booking_id,
                    "k": req.claim_key,
                    "h": req.holder,
                    "r": resource.id,
                    "g": group_id,
                    "ci": check_in,
                    "co": check_out,
                    "cu": until,
                    "q": quantity,
                    "exp": now + req.ttl,
                },
            )
        ).one()
        return Claim(*row)

    async def claim_slot(
        self,
        conn: AsyncConnection,
        *,
        slot_id: str,
        quantity: int,
        now: datetime,
        ttl: timedelta,
        booking_id: str | None = None,
        holder: str | None = None,
        resource_id: str | None = None,
        tenant: str | None = None,
        claim_key: str | None = None,
        replaces: Claim | None = None,
    ) -> Claim:
        """Take ``quantity`` seats (the party) of a slot until ``now + ttl``. With
        ``resource_id``, the slot must belong to that resource; with ``tenant``, to a resource
        of that tenant.

        One conditional UPDATE takes the seats only if they fit, and the CHECK constraint stands
        behind it: concurrent claims on a slot queue on its row and never exceed its capacity.
        Stale holds on the slot are expired first, so they never block. Idempotent per claim
        key (default: the booking id). With ``replaces``, a claim on the same slot takes only
        the seats it adds (and an exclusive unit's blocked range passes to the new claim).
        """
        key = claim_key or booking_id
        if key is not None:
            existing = await claim_by_key(conn, key)
            if existing is not None:
                return existing
        slot = (
            await conn.execute(
                text(
                    "SELECT id::text, resource_id::text, starts_at, ends_at, status FROM slots "
                    "WHERE id = CAST(:id AS uuid)"
                ),
                {"id": slot_id},
            )
        ).first()
        if slot is None or (resource_id is not None and slot.resource_id != resource_id):
            raise SlotNotFound(
                f"no slot {slot_id}" + (f" of resource {resource_id}" if resource_id else "")
            )
        if slot.status != "open":
            raise SlotCancelled(f"slot {slot_id} is cancelled")
        found = await load_resource(conn, slot.resource_id, share_lock=True, tenant=tenant)
        if found is None and tenant is not None:
            raise SlotNotFound(f"no slot {slot_id}")
        resource = ensure_active(found, slot.resource_id)
        local_day = slot.starts_at.astimezone(ZoneInfo(resource.timezone)).date()
        violations = check_slot(
            resource.rules,
            starts_at=slot.starts_at,
            party_size=quantity,
            now=now,
            tz=resource.timezone,
            blackouts=await blackouts_for(conn, resource, local_day, local_day + timedelta(days=1)),
        )
        if violations:
            raise RulesBroken(violations)
        # An exclusive unit (one at a time: a room, a staff member) blocks the slot widened by
        # its buffer; the exclusion constraint keeps active blocked ranges from overlapping.
        # Two transactions inserting overlapping ranges at once would each find the other's
        # uncommitted row and wait for it (a deadlock Postgres breaks by failing one), so claims
        # on one exclusive unit take turns on a transaction-scoped advisory lock first.
        blocked = None
        if resource.capacity == 1:
            pad = timedelta(minutes=resource.rules.buffer_minutes)
            blocked = (slot.starts_at - pad, slot.ends_at + pad)
            await conn.execute(
                text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                {"key": f"exclusive-unit:{resource.id}"},
            )
        stale = await conn.execute(
            text(
                f"SELECT {CLAIM_COLUMNS} FROM reservations WHERE status = 'held' "
                "AND expires_at <= :now AND (slot_id = CAST(:id AS uuid) OR ("
                "  CAST(:lo AS timestamptz) IS NOT NULL AND resource_id = CAST(:r AS uuid)"
                "  AND blocked && tstzrange(CAST(:lo AS timestamptz), CAST(:hi AS timestamptz))))"
                " ORDER BY id FOR UPDATE SKIP LOCKED"
            ),
            {
                "id": slot_id,
                "now": now,
                "r": resource.id,
                "lo": blocked[0] if blocked else None,
                "hi": blocked[1] if blocked else None,
            },
        )
        for row in stale.all():
            await self._end(conn, Claim(*row), "expired", "expired")
        same_slot = replaces is not None and replaces.slot_id == slot_id
        adding = quantity - min(quantity, replaces.quantity) if same_slot and replaces else quantity
        savepoint = await conn.begin_nested()
        if same_slot and replaces is not None and blocked is not None:
            await conn.execute(  # the range passes to the new claim; back if it is released
                text("UPDATE reservations SET blocked = NULL WHERE id = CAST(:id AS uuid)"),
                {"id": replaces.id},
            )
        taken = await conn.execute(
            text(
                "UPDATE slots SET reserved = reserved + :q WHERE id = CAST(:id AS uuid) "
                "AND status = 'open' AND reserved + :q <= capacity RETURNING reserved"
            ),
            {"id": slot_id, "q": adding},
        )
        if taken.first() is None:
            await savepoint.rollback()
            raise InsufficientCapacity(f"fewer than {quantity} seats left in slot {slot_id}")
        try:
            row = (
                await conn.execute(
                    text(
                        "INSERT INTO reservations (id, booking_id, claim_key, holder, resource_id, "
                        "slot_id, check_in, check_out, claimed_until, quantity, status, "
                        "expires_at, blocked, replaces) "
                        "VALUES (:id, :b, :k, :h, :r, :s, :d, :d1, :d1, :q, 'held', :exp, "
                        "CASE WHEN CAST(:lo AS timestamptz) IS NULL THEN NULL ELSE "
                        "tstzrange(CAST(:lo AS timestamptz), CAST(:hi AS timestamptz)) END, "
                        f"CAST(:rep AS uuid)) RETURNING {CLAIM_COLUMNS}"
                    ),
                    {
                        "id": str(uuid.uuid4()),
                        "rep": replaces.id if replaces else None,
                        "b": booking_id,
                        "k": key,
                        "h": holder,
                        "r": resource.id,
                        "s": slot_id,
                        "d": local_day,
                        "d1": local_day + timedelta(days=1),
                        "q": quantity,
                        "exp": now + ttl,
                        "lo": blocked[0] if blocked else None,
                        "hi": blocked[1] if blocked else None,
                    },
                )
            ).one()
        except IntegrityError as exc:
            await savepoint.rollback()
            if "reservations_exclusive_no_overlap" in str(exc.orig):
                raise InsufficientCapacity(
                    "the unit is taken at that time (another booking, buffers included)"
                ) from None
            raise
        await savepoint.commit()
        return Claim(*row)

    async def adopt_hold(
        self,
        conn: AsyncConnection,
        *,
        hold_id: str,
        booking_id: str,
        claim_key: str,
        resource_id: str,
        check_in: date,
        check_out: date,
        slot_id: str | None,
        quantity: int,
        holder: str | None,
        tenant: str | None,
        now: datetime,
        ttl: timedelta,
    ) -> Claim | None:
        """Make a hold the booking's claim (checkout: hold, then book). The hold must be the
        holder's (any holder of the tenant when ``holder`` is None, i.e. staff), unowned by a
        booking, and for the same resource (or its group), time and quantity; otherwise
        HoldNotUsable. None when the hold is no longer held (it expired or was released): the
        caller then claims afresh, so a slow checkout still books if capacity is left."""
        claim = await claim_by_id(conn, hold_id)
        owned_by_tenant = (
            claim is not None
            and await load_resource(conn, claim.resource_id, tenant=tenant) is not None
        )
        if claim is None or not owned_by_tenant or (holder is not None and claim.holder != holder):
            raise HoldNotUsable(f"no hold {hold_id} of yours")
        if claim.booking_id is not None and claim.booking_id != booking_id:
            raise HoldNotUsable(f"hold {hold_id} already became another booking")
        if claim.booking_id == booking_id:
            return claim
        if claim.status != "held" or claim.expires_at is None or claim.expires_at <= now:
            return None
        same_resource = resource_id in (claim.resource_id, claim.group_id)
        same_time = (
            claim.slot_id == slot_id
            if slot_id is not None
            else claim.slot_id is None
            and (claim.check_in, claim.check_out) == (check_in, check_out)
        )
        if not (same_resource and same_time and claim.quantity == quantity):
            raise HoldNotUsable(
                f"hold {hold_id} is for another resource, time or party size than the booking"
            )
        row = (
            await conn.execute(
                text(
                    "UPDATE reservations SET booking_id = :b, claim_key = :k, "
                    "expires_at = GREATEST(expires_at, :until), updated_at = now() "
                    f"WHERE id = CAST(:id AS uuid) RETURNING {CLAIM_COLUMNS}"
                ),
                {"b": booking_id, "k": claim_key, "until": now + ttl, "id": claim.id},
            )
        ).one()
        return Claim(*row)

    async def extend(
        self, conn: AsyncConnection, claim: Claim, now: datetime, by: timedelta
    ) -> datetime | None:
        """Move a held claim's expiry to ``now + by`` (never earlier than it was); None when the
        claim is no longer held (confirmed, released or expired: even if not swept yet)."""
        if claim.status != "held" or claim.expires_at is None or claim.expires_at <= now:
            return None
        row = (
            await conn.execute(
                text(
                    "UPDATE reservations SET expires_at = GREATEST(expires_at, :until), "
                    "updated_at = now() WHERE id = CAST(:id AS uuid) RETURNING expires_at"
                ),
                {"id": claim.id, "until": now + by},
            )
        ).one()
        return row.expires_at

    async def confirm(self, conn: AsyncConnection, claim: Claim) -> bool:
        """held → confirmed; True also when it already was. False when it was released/expired."""
        if claim.status == "confirmed":
            return True
        if claim.status != "held":
            return False
        await conn.execute(
            text(
                "UPDATE reservations SET status = 'confirmed', expires_at = NULL, "
                "updated_at = now() WHERE id = :id"
            ),
            {"id": claim.id},
        )
        return True

    async def release(self, conn: AsyncConnection, claim: Claim, why: str) -> bool:
        """Give the nights back; False when there was nothing to give (already released)."""
        return await self._end(conn, claim, "released", why)

    async def expire_due(self, conn: AsyncConnection, now: datetime, limit: int = 200) -> int:
        """Expire held claims past their expiry, in the caller's transaction; other
        transactions' rows are skipped."""
        expired = 0
        for claim_id in await self.due_for_expiry(conn, now, limit):
            expired += await self.expire_claim(conn, claim_id, now)
        return expired

    @staticmethod
    async def due_for_expiry(conn: AsyncConnection, now: datetime, limit: int = 200) -> list[str]:
        """Held claims past their expiry (not locked; ``expire_claim`` locks and checks again),
        but not those an earlier sweep set aside with an error."""
        rows = await conn.execute(
            text(
                "SELECT id::text FROM reservations WHERE status = 'held' AND expires_at <= :now "
                "AND expiry_error IS NULL ORDER BY expires_at LIMIT :n"
            ),
            {"now": now, "n": limit},
        )
        return [r[0] for r in rows]

    async def expire_claim(self, conn: AsyncConnection, claim_id: str, now: datetime) -> bool:
        """Expire one held claim if it is still due and no other transaction holds it."""
        row = (
            await conn.execute(
                text(
                    f"SELECT {CLAIM_COLUMNS} FROM reservations WHERE id = CAST(:id AS uuid) "
                    "AND status = 'held' AND expires_at <= :now FOR UPDATE SKIP LOCKED"
                ),
                {"id": claim_id, "now": now},
            )
        ).first()
        return row is not None and await self._end(conn, Claim(*row), "expired", "expired")

    @staticmethod
    async def set_expiry_aside(conn: AsyncConnection, claim_id: str, why: str) -> None:
        """A claim whose expiry keeps failing: the sweep leaves it (it still counts against
        capacity, the safe side) and an operator sees why."""
        await conn.execute(
            text("UPDATE reservations SET expiry_error = :why WHERE id = CAST(:id AS uuid)"),
            {"id": claim_id, "why": why},
        )

    async def _expire_stale_overlapping(
        self, conn: AsyncConnection, resource_id: str, start: date, until: date, now: datetime
    ) -> None:
        rows = await conn.execute(
            text(
                f"SELECT {CLAIM_COLUMNS} FROM reservations WHERE resource_id = CAST(:r AS uuid) "
                "AND status = 'held' AND expires_at <= :now AND check_in < :until "
                "AND claimed_until > :start ORDER BY id FOR UPDATE SKIP LOCKED"
            ),
            {"r": resource_id, "now": now, "start": start, "until": until},
        )
        for row in rows.all():
            await self._end(conn, Claim(*row), "expired", "expired")

    async def _end(self, conn: AsyncConnection, claim: Claim, status: str, why: str) -> bool:
        """End an active claim, giving back what it does not share with its partner (the claim
        it replaces or its replacement, while that one is active)."""
        if not claim.active:
            return False
        partner = await _partner(conn, claim)
        if claim.slot_id is not None:
            await conn.execute(
                text("UPDATE slots SET reserved = reserved - :q WHERE id = CAST(:id AS uuid)"),
                {"q": claim.quantity - claim.shared_seats(partner), "id": claim.slot_id},
            )
        else:
            await self._give_back_nights(conn, claim, partner)
        await self._mark_ended(conn, claim, status, why)
        if partner is not None and claim.shared_seats(partner):
            await conn.execute(  # an exclusive unit's range goes back to the claim that stays
                text(
                    "UPDATE reservations p SET blocked = c.blocked FROM reservations c "
                    "WHERE p.id = CAST(:p AS uuid) AND c.id = CAST(:c AS uuid) "
                    "AND p.blocked IS NULL AND c.blocked IS NOT NULL"
                ),
                {"p": partner.id, "c": claim.id},
            )
        return True

    async def _give_back_nights(
        self, conn: AsyncConnection, claim: Claim, partner: Claim | None = None
    ) -> None:
        shared_from, shared_until = claim.shared_nights(partner)
        await conn.execute(
            _GIVE_BACK_NIGHTS,
            {
                "rid": claim.resource_id,
                "quantity": claim.quantity,
                "check_in": claim.check_in,
                "until": claim.claimed_until,
                "shared_from": shared_from,
                "shared_until": shared_until,
            },
        )

    async def _mark_ended(self, conn: AsyncConnection, claim: Claim, status: str, why: str) -> None:
        await conn.execute(
            text("UPDATE reservations SET status = :s, updated_at = now() WHERE id = :id"),
            {"s": status, "id": claim.id},
        )
        fields: dict[str, Any] = {
            "resource_id": claim.resource_id,
            "claim_id": claim.id,
            "booking_id": claim.booking_id,
            "check_in": claim.check_in,
            "claimed_until": claim.claimed_until,
            "quantity": claim.quantity,
            "occurred_at": await db_now(conn),
            "slot_id": claim.slot_id,
            "tenant_id": claim.tenant_id,
        }
        if status == "expired":
            await self.outbox.add(
                conn, topic=INVENTORY_EVENTS, key=claim.resource_id, message=HoldExpired(**fields)
            )
        await self.outbox.add(
            conn,
            topic=INVENTORY_EVENTS,
            key=claim.resource_id,
            message=CapacityReleasedEvent(**fields, why=why),
        )
