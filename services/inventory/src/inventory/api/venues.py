"""Venues: the places a tenant's resources and groups are at. A venue is a name within a tenant
(``venue_id`` on its resources and groups), so two tenants' venues of the same name are two
venues. Pricing asks here before it accepts a venue's rate plan."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel
from sqlalchemy import text

from service_kit.auth import Caller
from service_kit.problems import Problem
from service_kit.runtime import Wiring


class VenuePublic(BaseModel):
    venue_id: str
    resources: int
    groups: int


def router(wiring: Wiring) -> APIRouter:
    api = APIRouter(prefix="/api/v1", tags=["resources"])
    engine = wiring.engine

    @api.get("/venues/{venue_id}", response_model=VenuePublic)
    async def get_venue(
        venue_id: Annotated[str, Path(min_length=1, max_length=64)], who: Caller
    ) -> VenuePublic:
        """The caller's tenant's venue: how many resources and groups it has. 404 when the
        tenant has none there."""
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT (SELECT count(*) FROM resources "
                        "        WHERE tenant_id = :t AND venue_id = :v) AS resources, "
                        "       (SELECT count(*) FROM resource_groups "
                        "        WHERE tenant_id = :t AND venue_id = :v) AS groups"
                    ),
                    {"t": who.tenant, "v": venue_id},
                )
            ).one()
        if not row.resources and not row.groups:
            raise Problem(404, "venue-not-found", "Venue not found", f"No venue {venue_id}.")
        return VenuePublic(venue_id=venue_id, resources=row.resources, groups=row.groups)

    return api
