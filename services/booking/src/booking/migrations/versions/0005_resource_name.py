"""The resource's name as inventory gave it when the booking was made (for emails and
``booking.created``).

Revision ID: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("bookings", sa.Column("resource_name", sa.Text))


def downgrade() -> None:
    op.drop_column("bookings", "resource_name")
