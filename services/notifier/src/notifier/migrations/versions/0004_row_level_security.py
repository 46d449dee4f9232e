"""Row-level security, the second wall between tenants (messaging.tenancy): every
tenant-owned table shows and accepts only the rows of the tenant the session acts for, whatever
a query's own filter says. Rows that belong to a parent row follow its tenant.

Revision ID: 0004
"""

from alembic import op

from messaging import tenancy

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

WALLS = [
    tenancy.by_column("booking_views"),
    tenancy.by_column("webhook_endpoints"),
    tenancy.by_column("notifications"),
    tenancy.by_parent("delivery_attempts", "notification_id", "notifications"),
]


def upgrade() -> None:
    tenancy.raise_walls(op, WALLS)


def downgrade() -> None:
    tenancy.lower_walls(op, WALLS)
