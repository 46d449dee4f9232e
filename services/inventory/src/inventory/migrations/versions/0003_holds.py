"""Holds: claims without a booking (a holder and a TTL), and the expired status.

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("reservations", "booking_id", nullable=True)
    op.add_column("reservations", sa.Column("holder", sa.Text))
    op.drop_constraint("reservations_status", "reservations")
    op.create_check_constraint(
        "reservations_status",
        "reservations",
        "status IN ('held', 'confirmed', 'released', 'expired')",
    )
    op.create_check_constraint(
        "reservations_owned", "reservations", "booking_id IS NOT NULL OR holder IS NOT NULL"
    )
    op.create_check_constraint(
        "reservations_held_expire", "reservations", "status <> 'held' OR expires_at IS NOT NULL"
    )
    op.create_index(
        "reservations_expiry_idx",
        "reservations",
        ["expires_at"],
        postgresql_where=sa.text("status = 'held'"),
    )


def downgrade() -> None:
    op.drop_index("reservations_expiry_idx", "reservations")
    op.drop_constraint("reservations_held_expire", "reservations")
    op.drop_constraint("reservations_owned", "reservations")
    op.drop_constraint("reservations_status", "reservations")
    op.create_check_constraint(
        "reservations_status", "reservations", "status IN ('held', 'confirmed', 'released')"
    )
    op.drop_column("reservations", "holder")
    op.alter_column("reservations", "booking_id", nullable=False)
