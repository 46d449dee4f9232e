"""Bookings, status history, sagas, saga log, idempotency keys, outbox and inbox.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

from messaging.migrations import create_messaging_tables, drop_messaging_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bookings",
        sa.Column("id", UUID(as_uuid=False), primary_key=True),
        sa.Column("reference", sa.Text, nullable=False),
        sa.Column("tenant_id", sa.Text, nullable=False, server_default="default"),
        sa.Column("resource_id", sa.Text, nullable=False),
        sa.Column("check_in", sa.Date, nullable=False),
        sa.Column("check_out", sa.Date, nullable=False),
        sa.Column("party", JSONB, nullable=False),
        sa.Column("guest", JSONB, nullable=False),
        sa.Column("special_requests", sa.Text),
        sa.Column("payment_method", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("reason_detail", sa.Text),
        sa.Column("total_amount", sa.Numeric(18, 6)),
        sa.Column("currency", sa.Text),
        sa.Column("quote_id", sa.Text),
        sa.Column("reservation_id", sa.Text),
        sa.Column("payment_id", sa.Text),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("confirmed_at", sa.DateTime(timezone=True)),
        sa.Column("rejected_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("check_out > check_in", name="bookings_period"),
        sa.UniqueConstraint("tenant_id", "reference", name="bookings_reference_per_tenant"),
    )
    op.create_index("bookings_resource_idx", "bookings", ["resource_id", "check_in"])
    op.create_index("bookings_status_idx", "bookings", ["status", "created_at"])
    op.create_table(
        "booking_status_history",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("booking_id", UUID(as_uuid=False), nullable=False),
        sa.Column("from_status", sa.Text),
        sa.Column("to_status", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index(
        "booking_status_history_booking_idx", "booking_status_history", ["booking_id", "id"]
    )
    op.create_table(
        "sagas",
        sa.Column("booking_id", UUID(as_uuid=False), primary_key=True),
        sa.Column("saga_type", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("current_step", sa.Text, nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True)),
        sa.Column("state", JSONB, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.create_index(
        "sagas_deadline_idx",
        "sagas",
        ["deadline"],
        postgresql_where=sa.text("status IN ('running', 'compensating')"),
    )
    op.create_table(
        "saga_log",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("booking_id", UUID(as_uuid=False), nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("message_type", sa.Text),
        sa.Column("step", sa.Text),
        sa.Column("detail", sa.Text),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("saga_log_booking_idx", "saga_log", ["booking_id", "id"])
    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("request_hash", sa.Text, nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("response", JSONB),
        sa.Column("booking_id", UUID(as_uuid=False)),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope", "key", name="idempotency_keys_pkey"),
    )
    op.create_index("idempotency_keys_expiry_idx", "idempotency_keys", ["expires_at"])
    create_messaging_tables(op)


def downgrade() -> None:
    drop_messaging_tables(op)
    for table in ("idempotency_keys", "saga_log", "sagas", "booking_status_history", "bookings"):
        op.drop_table(table)
