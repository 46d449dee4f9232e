"""The audit trail of what staff and admins change: who (subject and roles), from where (the
client address behind the trusted proxies, the user agent), when (the database's clock), and
the values before and after (the fields that changed; the whole object when it is created).

Each service keeps its trail in its own ``audit_log`` table (``create_audit_log`` in a
migration), behind the same row-level security wall as the rows it describes, written in the
transaction that makes the change, so a change and its audit row commit or vanish together.
The services' database role may only add rows to it (``migrate.grant_to``): the trail cannot be
edited by the code it audits. What is recorded is the object's public view: secrets and
anything else an API never shows never reach it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from fastapi import Request
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection

from messaging import tenancy
from service_kit.auth import Principal
from service_kit.clients import client_of

TABLE = "audit_log"
WALL = tenancy.by_column(TABLE)
# Tables the services' role may add to but never change (see migrate.grant_to).
APPEND_ONLY = (TABLE, "booking_audit")
USER_AGENT_MAX = 500


@dataclass(frozen=True)
class Actor:
    """Who changes something: a caller (with where they called from) or the platform itself."""

    subject: str
    roles: str = ""
    ip: str | None = None
    user_agent: str | None = None


def actor_of(request: Request, who: Principal) -> Actor:
    return Actor(
        subject=who.subject,
        roles=",".join(sorted(who.roles)),
        ip=client_of(request),
        user_agent=(request.headers.get("user-agent") or "")[:USER_AGENT_MAX] or None,
    )


class AuditEntry(BaseModel):
    at: datetime
    action: str
    actor: str
    actor_roles: str | None
    ip: str | None
    user_agent: str | None
    old: dict[str, Any] | None
    new: dict[str, Any] | None


def as_json(view: dict[str, Any] | BaseModel | None) -> dict[str, Any] | None:
    """A view as the JSON the trail stores (dates, decimals and ids as strings)."""
    if view is None:
        return None
    if isinstance(view, BaseModel):
        view = view.model_dump(mode="json")
    loaded: dict[str, Any] = json.loads(json.dumps(view, default=str))
    return loaded


def changes(
    old: dict[str, Any] | None, new: dict[str, Any] | None
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Before and after, cut to the fields that differ when there is both a before and an after
    (a creation keeps the whole new object, a removal the whole old one)."""
    if old is None or new is None:
        return old, new
    changed = {k for k in old.keys() | new.keys() if old.get(k) != new.get(k)}
    return (
        {k: v for k, v in old.items() if k in changed},
        {k: v for k, v in new.items() if k in changed},
    )


async def record(
    conn: AsyncConnection,
    *,
    tenant_id: str,
    entity: str,
    entity_id: str,
    action: str,
    actor: Actor,
    old: dict[str, Any] | BaseModel | None = None,
    new: dict[str, Any] | BaseModel | None = None,
) -> None:
    """One audit row, in ``conn``'s transaction. Nothing is recorded for a change that changed
    nothing (both sides present and equal)."""
    before, after = changes(as_json(old), as_json(new))
    if before == {} and after == {}:
        return
    await conn.execute(
        text(
            f"INSERT INTO {TABLE} (tenant_id, entity, entity_id, action, actor, actor_roles, ip, "
            "user_agent, old, new) VALUES (:t, :e, :id, :a, :who, :roles, :ip, :ua, "
            "CAST(:old AS jsonb), CAST(:new AS jsonb))"
        ),
        {"t": tenant_id, "e": entity, "id": entity_id, "a": action}
        | row_params(actor, before, after),
    )


def row_params(
    actor: Actor, before: dict[str, Any] | None, after: dict[str, Any] | None
) -> dict[str, Any]:
    """An audit row's ``:who``, ``:roles``, ``:ip``, ``:ua``, ``:old`` and ``:new`` (every
    trail has these columns, ``booking_audit`` too)."""
    return {
        "who": actor.subject,
        "roles": actor.roles or None,
        "ip": actor.ip,
        "ua": actor.user_agent,
        "old": json.dumps(before) if before is not None else None,
        "new": json.dumps(after) if after is not None else None,
    }


async def record_change(
    conn: AsyncConnection,
    request: Request,
    who: Principal,
    entity: str,
    action: str,
    old: BaseModel | None,
    new: Any,
) -> None:
    """A caller's change to an object of its tenant, from its public view before and after
    (``new.id`` names it; its own creation and update times are left to the audit row's)."""
    moments = {"created_at", "updated_at"}
    await record(
        conn,
        tenant_id=who.tenant,
        entity=entity,
        entity_id=str(new.id),
        action=action,
        actor=actor_of(request, who),
        old=old.model_dump(mode="json", exclude=moments) if old is not None else None,
        new=new.model_dump(mode="json", exclude=moments),
    )


async def trail(conn: AsyncConnection, entity: str, entity_id: str) -> list[AuditEntry]:
    """Every audit row of one object, oldest first."""
    rows = await conn.execute(
        text(
            "SELECT at, action, actor, actor_roles, ip, user_agent, old, new "
            f"FROM {TABLE} WHERE entity = :e AND entity_id = :id ORDER BY id"
        ),
        {"e": entity, "id": entity_id},
    )
    return [AuditEntry(**r._mapping) for r in rows]


def audit_log_table(metadata: sa.MetaData) -> sa.Table:
    """The trail in a service's metadata (``create_audit_log`` makes it)."""
    return sa.Table(
        TABLE,
        metadata,
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("entity", sa.Text, nullable=False),
        sa.Column("entity_id", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("actor_roles", sa.Text),
        sa.Column("ip", sa.Text),
        sa.Column("user_agent", sa.Text),
        sa.Column("old", JSONB),
        sa.Column("new", JSONB),
        sa.Column("at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Index("audit_log_entity_idx", "entity", "entity_id", "id"),
    )


def create_audit_log(op: Any) -> None:
    """The ``audit_log`` table and its wall, for a service's migration."""
    op.create_table(
        TABLE,
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("entity", sa.Text, nullable=False),
        sa.Column("entity_id", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("actor_roles", sa.Text),
        sa.Column("ip", sa.Text),
        sa.Column("user_agent", sa.Text),
        sa.Column("old", JSONB),
        sa.Column("new", JSONB),
        sa.Column("at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("audit_log_entity_idx", TABLE, ["entity", "entity_id", "id"])
    tenancy.raise_walls(op, [WALL])


def drop_audit_log(op: Any) -> None:
    tenancy.lower_walls(op, [WALL])
    op.drop_table(TABLE)
