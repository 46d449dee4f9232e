"""Availability rules per resource; reservations remember the nights they claimed (buffers).

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "resources",
        sa.Column("rules", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    )
    op.add_column("reservations", sa.Column("claimed_until", sa.Date))
    op.execute("UPDATE reservations SET claimed_until = check_out")
    op.alter_column("reservations", "claimed_until", nullable=False)
    op.create_check_constraint(
        "reservations_claim_covers_stay", "reservations", "claimed_until >= check_out"
    )


def downgrade() -> None:
    op.drop_constraint("reservations_claim_covers_stay", "reservations")
    op.drop_column("reservations", "claimed_until")
    op.drop_column("resources", "rules")
