"""Where and when a booking is, as inventory knows it: the resource's venue and timezone, and the
booking's local start and end (a slot's times, or a stay's check-in and check-out times). Used
by create and modify, before their transaction, so a slow inventory never holds a lock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as dtime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Depends

from service_kit.inventory import (
    InventoryClient,
    InventoryRefusedCaller,
    InventoryUnavailable,
    inventory_problem,
)
from service_kit.problems import Problem
from service_kit.runtime import AppWiring


def _local(day: date, at: str | None, default: dtime, tz: str) -> datetime:
    clock = dtime.fromisoformat(at) if at else default
    return datetime.combine(day, clock, tzinfo=ZoneInfo(tz))


@dataclass(frozen=True)
class Places:
    inventory: InventoryClient

    async def resolve(
        self,
        resource_id: str,
        slot_id: str | None,
        check_in: date | None,
        check_out: date | None,
        token: str | None,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The resource (``venue_id``, ``timezone``) and the time (``check_in``, ``check_out``,
        ``starts_at``, ``ends_at``). 422 for a resource or slot that does not exist."""
        try:
            resource = await self.inventory.resource(resource_id, token)
            if resource is not None and resource.get("is_group") and resource.get("units"):
                unit = await self.inventory.resource(resource["units"][0], token)
                resource = {**(unit or {}), **resource}
            slot = await self.inventory.slot(slot_id, token) if slot_id else None
        except (InventoryRefusedCaller, InventoryUnavailable) as exc:
            raise inventory_problem(exc) from None
        if resource is None:
            raise Problem(
                422,
                "unknown-resource",
                "Unknown resource",
                f"Resource {resource_id} does not exist.",
            )
        tz = resource.get("timezone") or "UTC"
        rules = resource.get("rules") or {}
        if slot_id is not None:
            if slot is None or slot["resource_id"] != resource.get("id"):
                raise Problem(
                    422,
                    "unknown-slot",
                    "Unknown slot",
                    f"Resource {resource_id} has no slot {slot_id}.",
                )
            starts = datetime.fromisoformat(slot["starts_at"])
            ends = datetime.fromisoformat(slot["ends_at"])
            day = starts.astimezone(ZoneInfo(tz)).date()
            when = {
                "check_in": day,
                "check_out": day + timedelta(days=1),
                "starts_at": starts,
                "ends_at": ends,
            }
        else:
            assert check_in is not None and check_out is not None
            when = {
                "check_in": check_in,
                "check_out": check_out,
                "starts_at": _local(check_in, rules.get("check_in_time"), dtime(15), tz),
                "ends_at": _local(check_out, rules.get("check_out_time"), dtime(11), tz),
            }
        place = {"timezone": tz, "venue_id": resource.get("venue_id"), "name": resource.get("name")}
        return place, when


def places_of(wiring: AppWiring) -> Places:
    return wiring.of(Places)


# The process's one Places (its inventory client's connection pool), for a route.
PlacesDep = Annotated[Places, Depends(places_of)]
