"""Row-level security, the second wall between tenants (messaging.tenancy): every
tenant-owned table shows and accepts only the rows of the tenant the session acts for, whatever
a query's own filter says. Rows that belong to a parent row follow its tenant.

Revision ID: 0009
"""

from alembic import op

from messaging import tenancy

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

WALLS = [
    tenancy.by_column("bookings"),
    tenancy.by_column("booking_audit"),
    tenancy.by_column("waitlist_entries"),
    tenancy.by_prefix("idempotency_keys", "scope"),  # <tenant>:<caller>:<operation>
    tenancy.by_parent("booking_status_history", "booking_id", "bookings"),
    tenancy.by_parent("sagas", "booking_id", "bookings"),
    tenancy.by_parent("saga_log", "booking_id", "bookings"),
    tenancy.by_parent("late_payments", "booking_id", "bookings"),
]


def upgrade() -> None:
    tenancy.raise_walls(op, WALLS)


def downgrade() -> None:
    tenancy.lower_walls(op, WALLS)
