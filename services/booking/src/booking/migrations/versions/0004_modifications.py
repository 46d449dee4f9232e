"""Modifications: the latest change of dates, slot or party a guest or staff asked for, and how
it went (in progress, waiting for the guest's payment, applied or failed and why).

Revision ID: 0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("bookings", sa.Column("modification", JSONB))


def downgrade() -> None:
    op.drop_column("bookings", "modification")
