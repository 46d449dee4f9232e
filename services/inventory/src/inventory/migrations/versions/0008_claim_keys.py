"""Claim keys: a booking may own more than one claim over its life (a modification reserves the
new dates before giving back the old ones; a late payment re-acquires capacity), so a claim is
idempotent by its key, not by its booking.

Revision ID: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("reservations", sa.Column("claim_key", sa.Text))
    op.execute("UPDATE reservations SET claim_key = booking_id WHERE booking_id IS NOT NULL")
    op.create_unique_constraint("reservations_claim_key_key", "reservations", ["claim_key"])
    op.drop_constraint("reservations_booking_id_key", "reservations")
    op.create_index("reservations_booking_idx", "reservations", ["booking_id"])


def downgrade() -> None:
    op.drop_index("reservations_booking_idx", "reservations")
    op.create_unique_constraint("reservations_booking_id_key", "reservations", ["booking_id"])
    op.drop_constraint("reservations_claim_key_key", "reservations")
    op.drop_column("reservations", "claim_key")
