from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Identity,
    Integer,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from messaging.tables import inbox_table, outbox_table

metadata = MetaData()

bookings = Table(
    "bookings",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("reference", Text, nullable=False),
    Column("tenant_id", Text, nullable=False, server_default="default"),
    Column("resource_id", Text, nullable=False),
    Column("check_in", Date, nullable=False),
    Column("check_out", Date, nullable=False),
    Column("party", JSONB, nullable=False),
    Column("guest", JSONB, nullable=False),
    Column("special_requests", Text),
    Column("payment_method", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("reason", Text),
    Column("reason_detail", Text),
    Column("total_amount", Numeric(18, 6)),
    Column("currency", Text),
    Column("quote_id", Text),
    Column("reservation_id", Text),
    Column("unit_id", Text),  # the unit inventory allocated (for a group: one of its resources)
    Column("payment_id", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("confirmed_at", DateTime(timezone=True)),
    Column("rejected_at", DateTime(timezone=True)),
)

status_history = Table(
    "booking_status_history",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("booking_id", UUID(as_uuid=False), nullable=False),
    Column("from_status", Text),
    Column("to_status", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("reason", Text),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

sagas = Table(
    "sagas",
    metadata,
    Column("booking_id", UUID(as_uuid=False), primary_key=True),
    Column("saga_type", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("current_step", Text, nullable=False),
    Column("deadline", DateTime(timezone=True)),
    Column("state", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

saga_log = Table(
    "saga_log",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("booking_id", UUID(as_uuid=False), nullable=False),
    Column("kind", Text, nullable=False),
    Column("message_type", Text),
    Column("step", Text),
    Column("detail", Text),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("scope", Text, nullable=False),
    Column("key", Text, nullable=False),
    Column("request_hash", Text, nullable=False),
    Column("status_code", Integer),
    Column("response", JSONB),
    Column("booking_id", UUID(as_uuid=False)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("scope", "key", name="idempotency_keys_pkey"),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
