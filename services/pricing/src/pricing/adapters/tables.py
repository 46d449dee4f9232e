from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    Numeric,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from messaging.tables import deliveries_table, inbox_table, outbox_table
from service_kit.audit import audit_log_table

metadata = MetaData()

rate_plans = Table(
    "rate_plans",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("resource_id", Text, index=True),
    Column("venue_id", Text),
    Column("name", Text, nullable=False, server_default=""),
    Column("currency", Text, nullable=False),
    Column("spec", JSONB, nullable=False),  # pricing.domain.plans.RatePlan.to_json()
    Column("version", Integer, nullable=False, server_default="1"),
    Column("active", Boolean, nullable=False, server_default="true"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint(
        "(resource_id IS NULL) <> (venue_id IS NULL)", name="rate_plans_resource_or_venue"
    ),
    Index("rate_plans_venue_idx", "venue_id", postgresql_where=text("active")),
)

quotes = Table(
    "quotes",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("tenant_id", Text),
    Column("booking_id", Text),  # null for a REST quote
    Column("quote_key", Text, unique=True),  # a saga's quote: the booking id, or a later key
    Column("resource_id", Text),
    Column("rate_plan_id", UUID(as_uuid=False), nullable=False),
    Column("rate_plan_version", Integer),
    Column("nights", Integer, nullable=False),
    Column("nightly_rate", Numeric(18, 6)),
    Column("total", Numeric(18, 6), nullable=False),
    Column("currency", Text, nullable=False),
    Column("doc", JSONB),  # lines, totals and the cancellation policy snapshot
    Column("valid_until", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("total >= 0", name="quotes_total_not_negative"),
    Index("quotes_booking_idx", "booking_id"),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
deliveries = deliveries_table(metadata)
audit_log = audit_log_table(metadata)
