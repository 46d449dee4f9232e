"""The full booking lifecycle: the booking record's new fields, several sagas per booking (one
active at a time), the audit log and the waitlist.

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)
_STAMPS = (
    "awaiting_payment_at",
    "checked_in_at",
    "completed_at",
    "cancelled_at",
    "refunded_at",
    "no_show_at",
    "expired_at",
)


def upgrade() -> None:
    add = op.add_column
    add("bookings", sa.Column("guest_id", sa.Text, nullable=False, server_default="unknown"))
    op.alter_column("bookings", "guest_id", server_default=None)
    add("bookings", sa.Column("venue_id", sa.Text))
    add("bookings", sa.Column("slot_id", sa.Text))
    add("bookings", sa.Column("starts_at", _TS))
    add("bookings", sa.Column("ends_at", _TS))
    add("bookings", sa.Column("timezone", sa.Text))
    add("bookings", sa.Column("hold_id", sa.Text))
    add("bookings", sa.Column("dietary_notes", sa.Text))
    add("bookings", sa.Column("accessibility_notes", sa.Text))
    add("bookings", sa.Column("price", JSONB))
    add("bookings", sa.Column("policy", JSONB))
    add("bookings", sa.Column("paid_amount", sa.Numeric(18, 6)))
    add("bookings", sa.Column("refunded_amount", sa.Numeric(18, 6)))
    add("bookings", sa.Column("payment_deadline", _TS))
    add("bookings", sa.Column("next_action", sa.Text))
    add("bookings", sa.Column("payment_verified_at", _TS))
    add("bookings", sa.Column("payment_verified_by", sa.Text))
    add("bookings", sa.Column("cancel_reason", sa.Text))
    add("bookings", sa.Column("cancelled_by", sa.Text))
    for stamp in _STAMPS:
        add("bookings", sa.Column(stamp, _TS))
    op.alter_column("bookings", "tenant_id", server_default=None)
    op.create_index("bookings_tenant_created_idx", "bookings", ["tenant_id", "created_at", "id"])
    op.create_index("bookings_guest_idx", "bookings", ["tenant_id", "guest_id", "created_at"])
    op.create_index(
        "bookings_payment_deadline_idx",
        "bookings",
        ["payment_deadline"],
        postgresql_where=sa.text("status = 'awaiting_payment'"),
    )

    # Sagas: a booking has one per operation (create, cancel, late payment, ...), at most one
    # active at a time.
    op.add_column("sagas", sa.Column("id", UUID(as_uuid=False)))
    op.add_column("sagas", sa.Column("seq", sa.Integer, nullable=False, server_default="1"))
    op.execute("UPDATE sagas SET id = booking_id")
    op.alter_column("sagas", "id", nullable=False)
    op.drop_constraint("sagas_pkey", "sagas")
    op.create_primary_key("sagas_pkey", "sagas", ["id"])
    op.create_index(
        "sagas_one_active_per_booking",
        "sagas",
        ["booking_id"],
        unique=True,
        postgresql_where=sa.text("status IN ('running', 'compensating', 'parked')"),
    )
    op.create_unique_constraint("sagas_booking_seq", "sagas", ["booking_id", "seq"])
    op.add_column("saga_log", sa.Column("saga_seq", sa.Integer))

    op.add_column("booking_status_history", sa.Column("version", sa.Integer))
    # An Idempotency-Key is claimed before the work and leased: a request that died mid-way
    # frees its key when the lease runs out (until then, retries hear 409 in flight).
    op.add_column("idempotency_keys", sa.Column("locked_until", _TS))

    op.create_table(
        "booking_audit",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("booking_id", UUID(as_uuid=False), nullable=False),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("actor_roles", sa.Text),
        sa.Column("ip", sa.Text),
        sa.Column("user_agent", sa.Text),
        sa.Column("old", JSONB),
        sa.Column("new", JSONB),
        sa.Column("at", _TS, nullable=False, server_default=sa.func.now()),
    )
    op.create_index("booking_audit_booking_idx", "booking_audit", ["booking_id", "id"])

    op.create_table(
        "waitlist_entries",
        sa.Column("id", UUID(as_uuid=False), primary_key=True),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("guest_id", sa.Text, nullable=False),
        sa.Column("resource_id", sa.Text, nullable=False),
        sa.Column("slot_id", sa.Text),
        sa.Column("check_in", sa.Date, nullable=False),
        sa.Column("check_out", sa.Date, nullable=False),
        sa.Column("party", JSONB, nullable=False),
        sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
        sa.Column("contact", JSONB, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("hold_id", sa.Text),
        sa.Column("offer_expires_at", _TS),
        sa.Column("booking_id", UUID(as_uuid=False)),
        sa.Column("created_at", _TS, nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", _TS, nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint(
            "status IN ('waiting', 'offered', 'accepted', 'expired', 'cancelled')",
            name="waitlist_status",
        ),
        sa.CheckConstraint("check_out > check_in", name="waitlist_period"),
    )
    op.create_index(
        "waitlist_queue_idx",
        "waitlist_entries",
        ["resource_id", "status", sa.text("priority DESC"), "created_at"],
    )
    op.create_index(
        "waitlist_offer_expiry_idx",
        "waitlist_entries",
        ["offer_expires_at"],
        postgresql_where=sa.text("status = 'offered'"),
    )


def downgrade() -> None:
    op.drop_table("waitlist_entries")
    op.drop_table("booking_audit")
    op.drop_column("idempotency_keys", "locked_until")
    op.drop_column("booking_status_history", "version")
    op.drop_column("saga_log", "saga_seq")
    op.drop_constraint("sagas_booking_seq", "sagas")
    op.drop_index("sagas_one_active_per_booking", "sagas")
    op.drop_constraint("sagas_pkey", "sagas")
    op.create_primary_key("sagas_pkey", "sagas", ["booking_id"])
    op.drop_column("sagas", "seq")
    op.drop_column("sagas", "id")
    op.drop_index("bookings_payment_deadline_idx", "bookings")
    op.drop_index("bookings_guest_idx", "bookings")
    op.drop_index("bookings_tenant_created_idx", "bookings")
    for stamp in _STAMPS:
        op.drop_column("bookings", stamp)
    for column in (
        "cancelled_by",
        "cancel_reason",
        "payment_verified_by",
        "payment_verified_at",
        "next_action",
        "payment_deadline",
        "refunded_amount",
        "paid_amount",
        "policy",
        "price",
        "accessibility_notes",
        "dietary_notes",
        "hold_id",
        "timezone",
        "ends_at",
        "starts_at",
        "slot_id",
        "venue_id",
        "guest_id",
    ):
        op.drop_column("bookings", column)
    op.alter_column("bookings", "tenant_id", server_default="default")
