"""Payment keys: a booking may take more than one payment over its life (a modification that
costs more charges the new price before the old payment is refunded), so authorizing is
idempotent by a payment key, not by the booking.

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("payments", sa.Column("payment_key", sa.Text))
    op.execute("UPDATE payments SET payment_key = booking_id")
    op.alter_column("payments", "payment_key", nullable=False)
    op.create_unique_constraint("payments_payment_key_key", "payments", ["payment_key"])
    op.drop_constraint("payments_booking_id_key", "payments")
    op.create_index("payments_booking_idx", "payments", ["booking_id", "created_at"])


def downgrade() -> None:
    op.drop_index("payments_booking_idx", "payments")
    op.create_unique_constraint("payments_booking_id_key", "payments", ["booking_id"])
    op.drop_constraint("payments_payment_key_key", "payments")
    op.drop_column("payments", "payment_key")
