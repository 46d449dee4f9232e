from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    Numeric,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from messaging import tenancy
from messaging.tables import deliveries_table, inbox_table, outbox_table

metadata = MetaData()

payments = Table(
    "payments",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("tenant_id", Text),
    Column("booking_id", Text, nullable=False),
    Column("payment_key", Text, nullable=False, unique=True),  # the booking id, or a later key
    Column("amount", Numeric(18, 6), nullable=False),
    Column("currency", Text, nullable=False),
    Column("payment_method", Text, nullable=False),
    Column("provider", Text, nullable=False),
    Column("provider_ref", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("decline_code", Text),
    Column("captured_amount", Numeric(18, 6), nullable=False, server_default="0"),
    Column("refunded_amount", Numeric(18, 6), nullable=False, server_default="0"),
    Column("next_action", Text),
    Column("saga_step", Text),
    Column("pay_by", DateTime(timezone=True)),
    # Set when the expiry sweep kept failing on this payment (see payment_expiry).
    Column("expiry_error", Text),
    # Canceled by the expiry; the provider's void is still to be called.
    Column("void_pending", Boolean, nullable=False, server_default=text("false")),
    Column("verified_at", DateTime(timezone=True)),
    Column("verified_by", Text),
    Column("late", Boolean, nullable=False, server_default="false"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("amount >= 0", name="payments_amount_non_negative"),
    CheckConstraint(
        "status IN ('requires_payment_method', 'requires_action', 'processing', 'authorized', "
        "'captured', 'canceled', 'failed')",
        name="payments_status",
    ),
    CheckConstraint(
        "refunded_amount >= 0 AND refunded_amount <= captured_amount AND captured_amount <= amount",
        name="payments_refunds_within_capture",
    ),
    Index("payments_booking_idx", "booking_id", "created_at"),
    Index("payments_provider_ref_idx", "provider", "provider_ref"),
    Index("payments_pay_by_idx", "pay_by", postgresql_where=text("status = 'requires_action'")),
)

refunds = Table(
    "refunds",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("payment_id", UUID(as_uuid=False), ForeignKey("payments.id"), nullable=False),
    Column("idempotency_key", Text, nullable=False),
    Column("amount", Numeric(18, 6), nullable=False),
    Column("reason", Text, nullable=False, server_default=""),
    Column("requested_by", Text),
    Column("provider_ref", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("payment_id", "idempotency_key", name="refunds_once_per_key"),
    CheckConstraint("amount > 0", name="refunds_amount_positive"),
)

provider_calls = Table(
    "provider_calls",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("payment_id", UUID(as_uuid=False), ForeignKey("payments.id")),
    Column("booking_id", Text),
    # The tenant its session acted for (column default): row-level security.
    Column("tenant_id", Text, server_default=text(tenancy.ACTING_TENANT_DEFAULT)),
    Column("provider", Text),
    Column("operation", Text, nullable=False),
    Column("idempotency_key", Text, nullable=False),
    Column("result", JSONB),
    Column("error", Text),
    Column("duration_ms", Integer),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("provider_calls_key_idx", "idempotency_key"),
    Index("provider_calls_payment_idx", "payment_id"),
)

provider_events = Table(
    "provider_events",
    metadata,
    Column("provider", Text, primary_key=True),
    Column("event_id", Text, primary_key=True),
    Column("type", Text, nullable=False),
    Column("payload", JSONB, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
deliveries = deliveries_table(metadata)
