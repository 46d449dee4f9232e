"""Schedules and the slots they generate; claims on slots.

Revision ID: 0006
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("id", UUID(as_uuid=False), primary_key=True),
        sa.Column(
            "resource_id", UUID(as_uuid=False), sa.ForeignKey("resources.id"), nullable=False
        ),
        sa.Column("spec", JSONB, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.create_index("schedules_resource_idx", "schedules", ["resource_id"])
    op.create_table(
        "slots",
        sa.Column("id", UUID(as_uuid=False), primary_key=True),
        sa.Column(
            "resource_id", UUID(as_uuid=False), sa.ForeignKey("resources.id"), nullable=False
        ),
        sa.Column("schedule_id", UUID(as_uuid=False), sa.ForeignKey("schedules.id")),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("capacity", sa.Integer, nullable=False),
        sa.Column("reserved", sa.Integer, nullable=False, server_default="0"),
        sa.Column("status", sa.Text, nullable=False, server_default="open"),
        sa.Column("cancel_reason", sa.Text),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.UniqueConstraint("resource_id", "starts_at", name="slots_one_per_start"),
        sa.CheckConstraint("ends_at > starts_at", name="slots_period"),
        sa.CheckConstraint("capacity > 0", name="slots_capacity_positive"),
        sa.CheckConstraint("reserved >= 0 AND reserved <= capacity", name="slots_not_oversold"),
        sa.CheckConstraint("status IN ('open', 'cancelled')", name="slots_status"),
    )
    op.add_column(
        "reservations", sa.Column("slot_id", UUID(as_uuid=False), sa.ForeignKey("slots.id"))
    )
    op.create_index(
        "reservations_slot_idx",
        "reservations",
        ["slot_id"],
        postgresql_where=sa.text("slot_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("reservations_slot_idx", "reservations")
    op.drop_column("reservations", "slot_id")
    op.drop_table("slots")
    op.drop_table("schedules")
