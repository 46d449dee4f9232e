from __future__ import annotations

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    Column,
    Date,
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

from messaging.tables import deliveries_table, inbox_table, outbox_table
from service_kit.audit import audit_log_table

metadata = MetaData()

# What the notifier knows of each booking, kept from booking.events (an email for
# booking.cancelled needs the dates and the guest that only booking.created carried).
booking_views = Table(
    "booking_views",
    metadata,
    Column("booking_id", Text, primary_key=True),
    Column("tenant_id", Text),
    Column("reference", Text),
    Column("version", Integer, nullable=False),
    Column("status", Text, nullable=False),
    Column("contact", JSONB),
    Column("resource_id", Text),
    Column("resource_name", Text),
    Column("timezone", Text),
    Column("check_in", Date),
    Column("check_out", Date),
    Column("starts_at", DateTime(timezone=True)),
    Column("ends_at", DateTime(timezone=True)),
    Column("is_slot", Boolean, nullable=False, server_default=text("false")),
    Column("party_size", Integer),
    Column("total_amount", Numeric(18, 6)),
    Column("currency", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("url", Text, nullable=False),
    Column("description", Text),
    Column("event_types", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("secret", Text, nullable=False),
    Column("previous_secret", Text),
    Column("previous_secret_expires_at", DateTime(timezone=True)),
    Column("status", Text, nullable=False),  # active | disabled
    Column("disabled_reason", Text),
    Column("disabled_at", DateTime(timezone=True)),
    Column("created_by", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("webhook_endpoints_tenant_idx", "tenant_id", "status"),
)

# One row per event and channel (and webhook endpoint): the message and its delivery schedule.
notifications = Table(
    "notifications",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("seq", BigInteger, Identity(always=False), nullable=False, unique=True),
    Column("event_source", Text, nullable=False),
    Column("event_id", Text, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("booking_id", Text),
    Column("tenant_id", Text),
    Column("channel", Text, nullable=False),  # email | webhook
    Column("target", Text, nullable=False, server_default=""),  # the endpoint id of a webhook
    Column(
        "endpoint_id",
        UUID(as_uuid=False),
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"),
    ),
    Column("recipient", Text),  # the email address or URL at the time of the event
    Column("template", Text, nullable=False),
    Column("payload", JSONB),
    Column("status", Text, nullable=False),  # pending | delivered | failed | cancelled
    # Deliveries with one order key go out one at a time, in seq order (a booking's events
    # reach each receiver in order).
    Column("order_key", Text),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("lease_token", UUID(as_uuid=False)),  # set while an attempt is in flight
    Column("last_attempt_at", DateTime(timezone=True)),
    Column("last_code", Integer),
    Column("last_error", Text),
    Column("delivered_at", DateTime(timezone=True)),
    Column("replays", Integer, nullable=False, server_default=text("0")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint(
        "event_source", "event_id", "channel", "target", name="notifications_once_per_target"
    ),
    Index("notifications_booking_idx", "booking_id", "created_at"),
    Index(
        "notifications_due_idx",
        "next_attempt_at",
        postgresql_where=text("status = 'pending'"),
    ),
    Index(
        "notifications_order_idx", "order_key", "seq", postgresql_where=text("status = 'pending'")
    ),
    Index("notifications_endpoint_idx", "endpoint_id", "seq"),
)

delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column(
        "notification_id",
        UUID(as_uuid=False),
        ForeignKey("notifications.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("attempt", Integer, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("duration_ms", Integer, nullable=False),
    Column("code", Integer),  # HTTP status or SMTP reply code
    Column("error", Text),
    Column("response", Text),  # the start of the answer
    Column("verdict", Text, nullable=False),  # delivered | retry | failed | gone
    Index("delivery_attempts_notification_idx", "notification_id", "id"),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
deliveries = deliveries_table(metadata)
audit_log = audit_log_table(metadata)
