"""Held and set-aside outbox rows, where sent rows landed, and the poison-message counter
(messaging.migrations.add_fault_tolerance).

Revision ID: 0004
"""

from alembic import op

from messaging.migrations import add_fault_tolerance, drop_fault_tolerance

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_fault_tolerance(op)


def downgrade() -> None:
    drop_fault_tolerance(op)
