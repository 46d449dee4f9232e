"""Resources, the nightly capacity ledger, reservations, outbox and inbox.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

from messaging.migrations import create_messaging_tables, drop_messaging_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "resources",
        sa.Column("id", UUID(as_uuid=False), primary_key=True),
        sa.Column("tenant_id", sa.Text, nullable=False, server_default="default"),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False, server_default="property"),
        sa.Column("booking_mode", sa.Text, nullable=False),
        sa.Column("capacity", sa.Integer, nullable=False),
        sa.Column("timezone", sa.Text, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.CheckConstraint("capacity > 0", name="resources_capacity_positive"),
        sa.CheckConstraint(
            "booking_mode IN ('nightly', 'timeslot')", name="resources_booking_mode"
        ),
    )
    op.create_table(
        "capacity_nights",
        sa.Column(
            "resource_id", UUID(as_uuid=False), sa.ForeignKey("resources.id"), nullable=False
        ),
        sa.Column("night", sa.Date, nullable=False),
        sa.Column("capacity", sa.Integer, nullable=False),
        sa.Column("reserved", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("resource_id", "night", name="capacity_nights_pkey"),
        sa.CheckConstraint(
            "reserved >= 0 AND reserved <= capacity", name="capacity_nights_not_oversold"
        ),
    )
    op.create_table(
        "reservations",
        sa.Column("id", UUID(as_uuid=False), primary_key=True),
        sa.Column("booking_id", sa.Text, nullable=False, unique=True),
        sa.Column(
            "resource_id", UUID(as_uuid=False), sa.ForeignKey("resources.id"), nullable=False
        ),
        sa.Column("check_in", sa.Date, nullable=False),
        sa.Column("check_out", sa.Date, nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.CheckConstraint(
            "status IN ('held', 'confirmed', 'released')", name="reservations_status"
        ),
        sa.CheckConstraint("check_out > check_in", name="reservations_period"),
    )
    op.create_index("reservations_resource_idx", "reservations", ["resource_id", "check_in"])
    create_messaging_tables(op)


def downgrade() -> None:
    drop_messaging_tables(op)
    op.drop_table("reservations")
    op.drop_table("capacity_nights")
    op.drop_table("resources")
