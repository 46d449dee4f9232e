"""Held and set-aside outbox rows, where sent rows landed, and the poison-message counter
(messaging.migrations.add_fault_tolerance); the error of a waitlist offer the expiry sweep
set aside; a saga's current command and when its step began.

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


def downgrade() -> None:
    op.drop_column("sagas", "step_started_at")
    op.drop_column("sagas", "command_id")
    op.drop_column("waitlist_entries", "expiry_error")
    drop_fault_tolerance(op)
