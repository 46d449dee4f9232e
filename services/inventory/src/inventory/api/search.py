"""Availability at scale: which resources of a venue can take a stay, and a month at a glance.

Both answer from a fixed number of queries whatever the number of resources (resources, their
blackouts, and the nights taken, each fetched in bulk), then apply the pure rules per resource.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import text

from inventory.api.availability import StayRequest
from inventory.domain.rules import (
    AvailabilityRules,
    Blackout,
    check_slot,
    check_stay,
    claimed_until,
)
from service_kit.auth import Caller
from service_kit.clock import db_now
from service_kit.fields import PathId
from service_kit.problems import Problem, uuid_or
from service_kit.runtime import Wiring

_COLUMNS = "id::text, name, capacity, timezone, rules, tenant_id, venue_id, booking_mode"
_VENUE_RESOURCES = text(
    f"SELECT {_COLUMNS} FROM resources WHERE active AND booking_mode = 'nightly' "
    "AND tenant_id = :t AND venue_id = :venue ORDER BY name, id LIMIT :limit"
)
_ONE_RESOURCE = text(
    f"SELECT {_COLUMNS} FROM resources WHERE id = CAST(:id AS uuid) AND tenant_id = :t"
)

# Taken units per resource and night, expired-but-unswept holds not counted.
_TAKEN = text(
    """
    SELECT n.resource_id::text AS rid, n.night, n.reserved - COALESCE((
             SELECT sum(c.quantity) FROM reservations c
             WHERE c.resource_id = n.resource_id AND c.status = 'held' AND c.expires_at <= :now
               AND c.check_in <= n.night AND c.claimed_until > n.night), 0) AS taken
    FROM capacity_nights n
    WHERE n.resource_id = ANY(CAST(:ids AS uuid[])) AND n.night >= :start AND n.night < :end
    """
)

_BLACKOUTS = text(
    """
    SELECT id::text, scope, resource_id::text AS rid, venue_id, kind, reason, starts_on, ends_on
    FROM blackouts
    WHERE tenant_id = ANY(:tenants) AND starts_on < :end AND ends_on > :start
      AND (resource_id = ANY(CAST(:ids AS uuid[])) OR venue_id = ANY(:venues) OR scope = 'tenant')
    """
)


class SearchIn(StayRequest):
    venue_id: str = Field(min_length=1, max_length=64)
    limit: int = Field(default=200, ge=1, le=1000)


class SearchHit(BaseModel):
    resource_id: str
    name: str
    available_units: int = Field(description="units free on every claimed night")


class SearchResult(BaseModel):
    venue_id: str
    check_in: date
    check_out: date
    available: list[SearchHit]
    considered: int


_MONTH_SLOTS = text(
    """
    SELECT s.starts_at, s.capacity, s.reserved - COALESCE((
             SELECT sum(c.quantity) FROM reservations c WHERE c.slot_id = s.id
               AND c.status = 'held' AND c.expires_at <= :now), 0) AS taken
    FROM slots s
    WHERE s.resource_id = CAST(:r AS uuid) AND s.status = 'open' AND s.starts_at >= :a
      AND s.starts_at < :b
    """
)


class CalendarDay(BaseModel):
    date: date
    available_spots: int
    slots: int = Field(description="bookable periods that day (one night for a nightly resource)")
    bookable: bool
    level: Literal["high", "medium", "low", "none"]


class MonthCalendar(BaseModel):
    resource_id: str
    month: str
    days: list[CalendarDay]


def level(free: int, capacity: int) -> Literal["high", "medium", "low", "none"]:
    """high: more than half free; medium: a quarter to half; low: less; none: nothing."""
    if free <= 0:
        return "none"
    share = free / capacity
    return "high" if share > 0.5 else "medium" if share >= 0.25 else "low"


async def _bulk(conn, resources, start: date, end: date, now: datetime):
    """Nights taken and blackouts of many nightly resources, in two queries."""
    ids = [r.id for r in resources]
    taken: dict[str, dict[date, int]] = defaultdict(dict)
    for row in await conn.execute(_TAKEN, {"ids": ids, "start": start, "end": end, "now": now}):
        taken[row.rid][row.night] = row.taken
    return taken, await _blackouts(conn, resources, start, end)


async def _blackouts(conn, resources, start: date, end: date) -> dict[str, list[Blackout]]:
    ids = [r.id for r in resources]
    blackouts: dict[str, list[Blackout]] = defaultdict(list)
    rows = await conn.execute(
        _BLACKOUTS,
        {
            "ids": ids,
            "tenants": sorted({r.tenant_id for r in resources}),
            "venues": sorted({r.venue_id for r in resources if r.venue_id}),
            "start": start,
            "end": end,
        },
    )
    for b in rows:
        blackout = Blackout(b.id, b.kind, b.reason, b.starts_on, b.ends_on)
        for r in resources:
            if (
                b.scope == "tenant"
                or (b.scope == "resource" and b.rid == r.id)
                or (b.scope == "venue" and b.venue_id == r.venue_id)
            ):
                blackouts[r.id].append(blackout)
    return blackouts


def router(wiring: Wiring) -> APIRouter:
    api = APIRouter(prefix="/api/v1", tags=["availability"])
    engine = wiring.engine

    @api.post("/availability/search", response_model=SearchResult)
    async def search(body: SearchIn, who: Caller) -> SearchResult:
        """The resources of a venue that can take the stay now: every rule passes and a unit is
        free on every claimed night (stay plus buffer)."""
        party = body.party.size
        async with engine.connect() as conn:
            now = await db_now(conn)
            resources = (
                await conn.execute(
                    _VENUE_RESOURCES,
                    {"t": who.tenant, "venue": body.venue_id, "limit": body.limit},
                )
            ).all()
            horizon = body.check_out + timedelta(days=31)  # covers any turnover buffer
            taken, blackouts = await _bulk(conn, resources, body.check_in, horizon, now)
        hits = []
        for r in resources:
            rules = AvailabilityRules.from_json(r.rules)
            if check_stay(
                rules,
                check_in=body.check_in,
                check_out=body.check_out,
                party_size=party,
                now=now,
                tz=r.timezone,
                blackouts=tuple(blackouts[r.id]),
            ):
                continue
            until = claimed_until(body.check_out, rules)
            nights = [
                body.check_in + timedelta(days=i) for i in range((until - body.check_in).days)
            ]
            free = min(r.capacity - taken[r.id].get(n, 0) for n in nights)
            if free > 0:
                hits.append(SearchHit(resource_id=r.id, name=r.name, available_units=free))
        return SearchResult(
            venue_id=body.venue_id,
            check_in=body.check_in,
            check_out=body.check_out,
            available=hits,
            considered=len(resources),
        )

    @api.get("/resources/{resource_id}/calendar", response_model=MonthCalendar)
    async def month_calendar(
        resource_id: PathId,
        who: Caller,
        month: str = Query(pattern=r"^[12]\d{3}-(0[1-9]|1[0-2])$", examples=["2027-03"]),
    ) -> MonthCalendar:
        """For each day of the month (in the resource's timezone): the spots still free, how many
        slots can be booked (one night for a nightly resource), whether anything is bookable
        (rules, blackouts, notice, horizon), and a level for colouring a calendar."""
        not_found = Problem(
            404, "resource-not-found", "Resource not found", f"No resource {resource_id}."
        )
        year, mon = (int(x) for x in month.split("-"))
        first = date(year, mon, 1)
        end = first + timedelta(days=calendar.monthrange(year, mon)[1])
        async with engine.connect() as conn:
            now = await db_now(conn)
            rows = (
                await conn.execute(
                    _ONE_RESOURCE, {"id": uuid_or(resource_id, not_found), "t": who.tenant}
                )
            ).all()
            if not rows:
                raise not_found
            r = rows[0]
            if r.booking_mode == "timeslot":
                blackouts = await _blackouts(conn, rows, first, end)
            else:
                taken, blackouts = await _bulk(conn, rows, first, end, now)
        rules = AvailabilityRules.from_json(r.rules)
        if r.booking_mode == "timeslot":
            days = await slot_days(r, rules, first, end, now, tuple(blackouts[r.id]))
            return MonthCalendar(resource_id=r.id, month=month, days=days)
        days = []
        for i in range((end - first).days):
            day = first + timedelta(days=i)
            free = r.capacity - taken[r.id].get(day, 0)
            # May a stay start today? Probe the shortest stay the rules allow and ignore what
            # depends only on its length or its check-out day.
            probe = check_stay(
                rules,
                check_in=day,
                check_out=day + timedelta(days=rules.min_stay_nights),
                party_size=rules.min_party,
                now=now,
                tz=r.timezone,
                blackouts=tuple(blackouts[r.id]),
            )
            start_ok = not [
                v
                for v in probe
                if v.rule not in ("MinimumStayNotMet", "MaximumStayExceeded", "BlackedOut")
                and not v.detail.startswith("check-out")
            ] and not any(b.overlaps(day, day + timedelta(days=1)) for b in blackouts[r.id])
            bookable = start_ok and free > 0
            days.append(
                CalendarDay(
                    date=day,
                    available_spots=max(free, 0) if bookable else 0,
                    slots=1,
                    bookable=bookable,
                    level=level(free, r.capacity) if bookable else "none",
                )
            )
        return MonthCalendar(resource_id=r.id, month=month, days=days)

    async def slot_days(r, rules, first, end, now, blackouts):
        """A timeslot resource's month: per local day, the open slots a party of the minimum
        size could still take (rules, notice, blackouts), their free seats and a level."""
        zone = ZoneInfo(r.timezone)
        async with engine.connect() as conn:
            rows = await conn.execute(
                _MONTH_SLOTS,
                {
                    "r": r.id,
                    "now": now,
                    "a": datetime.combine(first, time(), zone),
                    "b": datetime.combine(end, time(), zone),
                },
            )
            per_day: dict[date, list[tuple[int, int]]] = defaultdict(list)
            for slot in rows:
                if check_slot(
                    rules,
                    starts_at=slot.starts_at,
                    party_size=rules.min_party,
                    now=now,
                    tz=r.timezone,
                    blackouts=blackouts,
                ):
                    continue
                per_day[slot.starts_at.astimezone(zone).date()].append(
                    (slot.capacity - slot.taken, slot.capacity)
                )
        days = []
        for i in range((end - first).days):
            day = first + timedelta(days=i)
            offered = per_day.get(day, [])
            spots = sum(free for free, _ in offered if free > 0)
            seats = sum(cap for _, cap in offered)
            days.append(
                CalendarDay(
                    date=day,
                    available_spots=spots,
                    slots=sum(1 for free, _ in offered if free > 0),
                    bookable=spots > 0,
                    level=level(spots, seats) if spots else "none",
                )
            )
        return days

    return api
