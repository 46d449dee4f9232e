"""Held and set-aside outbox rows, where sent rows landed, and the poison-message counter
(messaging.migrations.add_fault_tolerance); the error of a reservation the expiry sweep set aside.

Revision ID: 0010
"""

import sqlalchemy as sa
from alembic import op

from messaging.migrations import add_fault_tolerance, drop_fault_tolerance

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_fault_tolerance(op)
    op.add_column("reservations", sa.Column("expiry_error", sa.Text))


def downgrade() -> None:
    op.drop_column("reservations", "expiry_error")
    drop_fault_tolerance(op)
