"""Replacing claims: a booking's modification claims its new dates or slot while the old claim
still holds, and the capacity the two have in common (the same nights of the same unit, the
same seats of the same slot) is counted once, so extending a stay in a single villa or adding a
guest to a full slot's booking does not compete with itself.

Revision ID: 0009
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE reservations ADD COLUMN replaces uuid")
    op.execute(
        "CREATE INDEX reservations_replaces_idx ON reservations (replaces) "
        "WHERE replaces IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX reservations_replaces_idx")
    op.execute("ALTER TABLE reservations DROP COLUMN replaces")
