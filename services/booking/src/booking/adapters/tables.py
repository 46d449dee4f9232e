from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Identity,
    Index,
    Integer,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from messaging.tables import deliveries_table, inbox_table, outbox_table
from service_kit.ratelimit import rate_limit_table

metadata = MetaData()

bookings = Table(
    "bookings",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("reference", Text, nullable=False),
    Column("tenant_id", Text, nullable=False),
    Column("guest_id", Text, nullable=False),
    Column("venue_id", Text),
    Column("resource_id", Text, nullable=False),
    Column("slot_id", Text),
    Column("starts_at", DateTime(timezone=True)),
    Column("ends_at", DateTime(timezone=True)),
    Column("timezone", Text),
    Column("resource_name", Text),  # as inventory named it when the booking was made
    Column("hold_id", Text),
    Column("check_in", Date, nullable=False),
    Column("check_out", Date, nullable=False),
    Column("party", JSONB, nullable=False),
    Column("guest", JSONB, nullable=False),
    Column("special_requests", Text),
    Column("dietary_notes", Text),
    Column("accessibility_notes", Text),
    Column("payment_method", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("reason", Text),
    Column("reason_detail", Text),
    Column("total_amount", Numeric(18, 6)),
    Column("currency", Text),
    Column("quote_id", Text),
    Column("price", JSONB),  # the quote's lines, subtotal and taxes at booking time
    Column("policy", JSONB),  # the cancellation policy snapshot
    Column("paid_amount", Numeric(18, 6)),
    Column("refunded_amount", Numeric(18, 6)),
    Column("payment_deadline", DateTime(timezone=True)),
    Column("next_action", Text),
    Column("payment_verified_at", DateTime(timezone=True)),
    Column("payment_verified_by", Text),
    Column("cancel_reason", Text),
    Column("cancelled_by", Text),
    Column("reservation_id", Text),
    Column("unit_id", Text),  # the unit inventory allocated (for a group: one of its resources)
    Column("payment_id", Text),
    Column("modification", JSONB),  # the latest change of dates, slot or party, and its outcome
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("confirmed_at", DateTime(timezone=True)),
    Column("rejected_at", DateTime(timezone=True)),
    Column("awaiting_payment_at", DateTime(timezone=True)),
    Column("checked_in_at", DateTime(timezone=True)),
    Column("completed_at", DateTime(timezone=True)),
    Column("cancelled_at", DateTime(timezone=True)),
    Column("refunded_at", DateTime(timezone=True)),
    Column("no_show_at", DateTime(timezone=True)),
    Column("expired_at", DateTime(timezone=True)),
    UniqueConstraint("tenant_id", "reference", name="bookings_reference_per_tenant"),
    CheckConstraint("check_out > check_in", name="bookings_period"),
    Index("bookings_resource_idx", "resource_id", "check_in"),
    Index("bookings_status_idx", "status", "created_at"),
    Index("bookings_tenant_created_idx", "tenant_id", "created_at", "id"),
    Index("bookings_guest_idx", "tenant_id", "guest_id", "created_at"),
    Index(
        "bookings_payment_deadline_idx",
        "payment_deadline",
        postgresql_where=text("status = 'awaiting_payment'"),
    ),
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
    Column("version", Integer),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("booking_status_history_booking_idx", "booking_id", "id"),
)

# One row per saga; a booking has at most one active saga (a partial unique index).
sagas = Table(
    "sagas",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("booking_id", UUID(as_uuid=False), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("saga_type", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("current_step", Text, nullable=False),
    Column("deadline", DateTime(timezone=True)),
    # The current step's command (its outbox row says where it landed) and when the step began.
    Column("command_id", UUID(as_uuid=False)),
    Column("step_started_at", DateTime(timezone=True)),
    Column("state", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("booking_id", "seq", name="sagas_booking_seq"),
    Index(
        "sagas_one_active_per_booking",
        "booking_id",
        unique=True,
        postgresql_where=text("status IN ('running', 'compensating', 'parked')"),
    ),
    Index(
        "sagas_deadline_idx",
        "deadline",
        postgresql_where=text("status IN ('running', 'compensating')"),
    ),
)

late_payments = Table(
    "late_payments",
    metadata,
    Column("payment_id", Text, primary_key=True),
    Column("booking_id", UUID(as_uuid=False), nullable=False),
    Column("amount", Numeric(18, 6), nullable=False),
    Column("currency", Text, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("settled_at", DateTime(timezone=True)),  # its saga started
    Column("error", Text),  # settling kept failing (see booking.adapters.late_payments)
    Index("late_payments_unsettled_idx", "booking_id", postgresql_where=text("settled_at IS NULL")),
)

saga_log = Table(
    "saga_log",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("booking_id", UUID(as_uuid=False), nullable=False),
    Column("kind", Text, nullable=False),
    Column("message_type", Text),
    Column("step", Text),
    Column("saga_seq", Integer),
    Column("detail", Text),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("saga_log_booking_idx", "booking_id", "id"),
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
    Column("locked_until", DateTime(timezone=True)),  # an in-flight request's lease
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("scope", "key", name="idempotency_keys_pkey"),
    Index("idempotency_keys_expiry_idx", "expires_at"),
)

booking_audit = Table(
    "booking_audit",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("booking_id", UUID(as_uuid=False), nullable=False),
    Column("tenant_id", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("actor_roles", Text),
    Column("ip", Text),
    Column("user_agent", Text),
    Column("old", JSONB),
    Column("new", JSONB),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("booking_audit_booking_idx", "booking_id", "id"),
)

waitlist_entries = Table(
    "waitlist_entries",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("guest_id", Text, nullable=False),
    Column("resource_id", Text, nullable=False),
    Column("slot_id", Text),
    Column("check_in", Date, nullable=False),
    Column("check_out", Date, nullable=False),
    Column("party", JSONB, nullable=False),
    Column("priority", Integer, nullable=False),
    Column("contact", JSONB, nullable=False),
    Column("status", Text, nullable=False),  # waiting | offered | accepted | expired | cancelled
    Column("hold_id", Text),
    Column("offer_expires_at", DateTime(timezone=True)),
    Column("expiry_error", Text),  # the offer expiry kept failing (see waitlist_offers)
    Column("booking_id", UUID(as_uuid=False)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("check_out > check_in", name="waitlist_period"),
    CheckConstraint(
        "status IN ('waiting', 'offered', 'accepted', 'expired', 'cancelled')",
        name="waitlist_status",
    ),
    Index("waitlist_queue_idx", "resource_id", "status", text("priority DESC"), "created_at"),
    Index(
        "waitlist_offer_expiry_idx",
        "offer_expires_at",
        postgresql_where=text("status = 'offered'"),
    ),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
deliveries = deliveries_table(metadata)
rate_limit_windows = rate_limit_table(metadata)
