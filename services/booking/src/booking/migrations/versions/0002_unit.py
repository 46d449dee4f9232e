"""The unit inventory allocated (differs from resource_id when a group was booked).

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("bookings", sa.Column("unit_id", sa.Text))


def downgrade() -> None:
    op.drop_column("bookings", "unit_id")
