"""Exclusive timeslot units: no two active claims on one unit overlap, buffers included.

Enforced by an exclusion constraint on the blocked time range (the slot widened by the
resource's buffer minutes), so no interleaving of transactions can double-book a meeting room,
a treatment room or a staff member.

Revision ID: 0007
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.execute("ALTER TABLE reservations ADD COLUMN blocked tstzrange")
    op.execute(
        "ALTER TABLE reservations ADD CONSTRAINT reservations_exclusive_no_overlap "
        "EXCLUDE USING gist (resource_id WITH =, blocked WITH &&) "
        "WHERE (blocked IS NOT NULL AND status IN ('held', 'confirmed'))"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE reservations DROP CONSTRAINT reservations_exclusive_no_overlap")
    op.execute("ALTER TABLE reservations DROP COLUMN blocked")
