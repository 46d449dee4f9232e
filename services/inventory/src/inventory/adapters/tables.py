"""Inventory tables. The ledger's guarantee lives in the schema:

``capacity_nights`` has one row per resource and night with ``CHECK (reserved <= capacity)``,
so no interleaving of transactions can ever oversell a night; application code only chooses
how to react when Postgres refuses.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, TSTZRANGE, UUID, ExcludeConstraint

from messaging.tables import deliveries_table, inbox_table, outbox_table
from service_kit.audit import audit_log_table
from service_kit.ratelimit import rate_limit_table

metadata = MetaData()

resource_groups = Table(
    "resource_groups",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("tenant_id", Text, nullable=False, server_default="default"),
    Column("venue_id", Text),
    Column("name", Text, nullable=False),
    Column("kind", Text, nullable=False, server_default="room"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

resources = Table(
    "resources",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("tenant_id", Text, nullable=False, server_default="default"),
    Column("venue_id", Text),
    Column("group_id", UUID(as_uuid=False), ForeignKey("resource_groups.id")),
    Column("name", Text, nullable=False),
    Column("kind", Text, nullable=False, server_default="property"),
    Column("booking_mode", Text, nullable=False),
    Column("capacity", Integer, nullable=False),
    Column("timezone", Text, nullable=False),
    Column("active", Boolean, nullable=False, server_default="true"),
    Column("rules", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("capacity > 0", name="resources_capacity_positive"),
    CheckConstraint("booking_mode IN ('nightly', 'timeslot')", name="resources_booking_mode"),
    Index("resources_group_idx", "group_id"),
    Index("resources_venue_idx", "tenant_id", "venue_id"),
)

capacity_nights = Table(
    "capacity_nights",
    metadata,
    Column("resource_id", UUID(as_uuid=False), ForeignKey("resources.id"), nullable=False),
    Column("night", Date, nullable=False),
    Column("capacity", Integer, nullable=False),
    Column("reserved", Integer, nullable=False),
    PrimaryKeyConstraint("resource_id", "night", name="capacity_nights_pkey"),
    CheckConstraint("reserved >= 0 AND reserved <= capacity", name="capacity_nights_not_oversold"),
)

reservations = Table(
    "reservations",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("booking_id", Text),  # null for a hold placed through REST
    # What makes a saga's claim idempotent (migration 0008): the booking id, or another key for
    # a booking's later claims (a modification, a late payment).
    Column("claim_key", Text, unique=True),
    Column("holder", Text),
    Column("group_id", UUID(as_uuid=False)),  # set when the claim was made on a group
    Column("slot_id", UUID(as_uuid=False), ForeignKey("slots.id")),  # a claim on seats of a slot
    # Exclusive units: the slot widened by buffer minutes; an exclusion constraint (migration
    # 0007) keeps active claims of one unit from overlapping.
    Column("blocked", TSTZRANGE),
    Column("resource_id", UUID(as_uuid=False), ForeignKey("resources.id"), nullable=False),
    # The resource's tenant, filled by a trigger on insert (migration 0011).
    Column("tenant_id", Text),
    Column("check_in", Date, nullable=False),
    Column("check_out", Date, nullable=False),
    Column("claimed_until", Date, nullable=False),  # check_out plus the turnover buffer
    Column("quantity", Integer, nullable=False),
    Column("status", Text, nullable=False),
    Column("expires_at", DateTime(timezone=True)),
    # Set when the expiry sweep kept failing on this claim (it is left held; see claim_expiry).
    Column("expiry_error", Text),
    # The claim this one replaces (a modification: migration 0009); their common capacity is
    # counted once.
    Column("replaces", UUID(as_uuid=False)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint(
        "status IN ('held', 'confirmed', 'released', 'expired')", name="reservations_status"
    ),
    CheckConstraint("booking_id IS NOT NULL OR holder IS NOT NULL", name="reservations_owned"),
    CheckConstraint("status <> 'held' OR expires_at IS NOT NULL", name="reservations_held_expire"),
    CheckConstraint("check_out > check_in", name="reservations_period"),
    CheckConstraint("claimed_until >= check_out", name="reservations_claim_covers_stay"),
    ExcludeConstraint(
        ("resource_id", "="),
        ("blocked", "&&"),
        name="reservations_exclusive_no_overlap",
        using="gist",
        where=text("blocked IS NOT NULL AND status IN ('held', 'confirmed')"),
    ),
    Index("reservations_resource_idx", "resource_id", "check_in"),
    Index("reservations_booking_idx", "booking_id"),
    Index("reservations_tenant_idx", "tenant_id"),
    Index("reservations_expiry_idx", "expires_at", postgresql_where=text("status = 'held'")),
    Index("reservations_slot_idx", "slot_id", postgresql_where=text("slot_id IS NOT NULL")),
    Index("reservations_replaces_idx", "replaces", postgresql_where=text("replaces IS NOT NULL")),
)

blackouts = Table(
    "blackouts",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("tenant_id", Text, nullable=False, server_default="default"),
    Column("scope", Text, nullable=False),  # resource | venue | tenant
    Column("resource_id", UUID(as_uuid=False), ForeignKey("resources.id")),
    Column("venue_id", Text),
    Column("kind", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("starts_on", Date, nullable=False),
    Column("ends_on", Date, nullable=False),  # exclusive
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("ends_on > starts_on", name="blackouts_period"),
    CheckConstraint(
        "kind IN ('holiday', 'maintenance', 'weather', 'owner_use', 'custom')",
        name="blackouts_kind",
    ),
    CheckConstraint(
        "(scope = 'resource' AND resource_id IS NOT NULL AND venue_id IS NULL) OR "
        "(scope = 'venue' AND venue_id IS NOT NULL AND resource_id IS NULL) OR "
        "(scope = 'tenant' AND resource_id IS NULL AND venue_id IS NULL)",
        name="blackouts_scope",
    ),
    Index("blackouts_lookup_idx", "tenant_id", "starts_on", "ends_on"),
)

schedules = Table(
    "schedules",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("resource_id", UUID(as_uuid=False), ForeignKey("resources.id"), nullable=False),
    Column("spec", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("schedules_resource_idx", "resource_id"),
)

# Counted capacity of a timeslot: CHECK (reserved <= capacity), taken by one conditional UPDATE.
slots = Table(
    "slots",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("resource_id", UUID(as_uuid=False), ForeignKey("resources.id"), nullable=False),
    Column("schedule_id", UUID(as_uuid=False), ForeignKey("schedules.id")),
    Column("starts_at", DateTime(timezone=True), nullable=False),
    Column("ends_at", DateTime(timezone=True), nullable=False),
    Column("capacity", Integer, nullable=False),
    Column("reserved", Integer, nullable=False, server_default="0"),
    Column("status", Text, nullable=False, server_default="open"),
    Column("cancel_reason", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("reserved >= 0 AND reserved <= capacity", name="slots_not_oversold"),
    UniqueConstraint("resource_id", "starts_at", name="slots_one_per_start"),
    CheckConstraint("ends_at > starts_at", name="slots_period"),
    CheckConstraint("capacity > 0", name="slots_capacity_positive"),
    CheckConstraint("status IN ('open', 'cancelled')", name="slots_status"),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
deliveries = deliveries_table(metadata)
audit_log = audit_log_table(metadata)
rate_limit_windows = rate_limit_table(metadata)
