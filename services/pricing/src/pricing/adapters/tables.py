from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Integer,
    MetaData,
    Numeric,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import UUID

from messaging.tables import inbox_table, outbox_table

metadata = MetaData()

rate_plans = Table(
    "rate_plans",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("resource_id", Text, nullable=False, index=True),
    Column("currency", Text, nullable=False),
    Column("nightly_rate", Numeric(18, 6), nullable=False),
    Column("active", Boolean, nullable=False, server_default="true"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("nightly_rate > 0", name="rate_plans_rate_positive"),
)

quotes = Table(
    "quotes",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("booking_id", Text, nullable=False, unique=True),
    Column("rate_plan_id", UUID(as_uuid=False), nullable=False),
    Column("nights", Integer, nullable=False),
    Column("nightly_rate", Numeric(18, 6), nullable=False),
    Column("total", Numeric(18, 6), nullable=False),
    Column("currency", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
