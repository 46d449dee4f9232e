"""Held and set-aside outbox rows, where sent rows landed, and the poison-message counter
(messaging.migrations.add_fault_tolerance); the error of a waitlist offer the expiry sweep
set aside; a saga's current command and when its step began; late payments kept until settled.

Revision ID: 0006
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

from messaging.migrations import add_fault_tolerance, drop_fault_tolerance

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_fault_tolerance(op)
    op.add_column("waitlist_entries", sa.Column("expiry_error", sa.Text))
    op.add_column("sagas", sa.Column("command_id", UUID(as_uuid=False)))
    op.add_column("sagas", sa.Column("step_started_at", sa.DateTime(timezone=True)))
    op.create_table(
        "late_payments",
        sa.Column("payment_id", sa.Text, primary_key=True),
        sa.Column("booking_id", UUID(as_uuid=False), nullable=False),
        sa.Column("amount", sa.Numeric(18, 6), nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("settled_at", sa.DateTime(timezone=True)),
        sa.Column("error", sa.Text),
    )
    op.create_index(
        "late_payments_unsettled_idx",
        "late_payments",
        ["booking_id"],
        postgresql_where=sa.text("settled_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_table("late_payments")
    op.drop_column("sagas", "step_started_at")
    op.drop_column("sagas", "command_id")
    op.drop_column("waitlist_entries", "expiry_error")
    drop_fault_tolerance(op)
