"""Held and set-aside outbox rows, where sent rows landed, and the poison-message counter
(messaging.migrations.add_fault_tolerance); the error of a payment the expiry sweep set aside.

Revision ID: 0004
"""

import sqlalchemy as sa
from alembic import op

from messaging.migrations import add_fault_tolerance, drop_fault_tolerance

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_fault_tolerance(op)
    op.add_column("payments", sa.Column("expiry_error", sa.Text))
    op.add_column(
        "payments",
        sa.Column("void_pending", sa.Boolean, nullable=False, server_default=sa.text("false")),
    )


def downgrade() -> None:
    op.drop_column("payments", "void_pending")
    op.drop_column("payments", "expiry_error")
    drop_fault_tolerance(op)
