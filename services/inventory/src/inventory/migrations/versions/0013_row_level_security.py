"""Row-level security, the second wall between tenants (messaging.tenancy): every
tenant-owned table shows and accepts only the rows of the tenant the session acts for, whatever
a query's own filter says. Rows that belong to a parent row follow its tenant.

Revision ID: 0013
"""

from alembic import op

from messaging import tenancy

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

WALLS = [
    tenancy.by_column("resource_groups"),
    tenancy.by_column("resources"),
    tenancy.by_column("blackouts"),
    tenancy.by_column("reservations"),
    tenancy.by_parent("capacity_nights", "resource_id", "resources"),
    tenancy.by_parent("schedules", "resource_id", "resources"),
    tenancy.by_parent("slots", "resource_id", "resources"),
]


def upgrade() -> None:
    tenancy.raise_walls(op, WALLS)


def downgrade() -> None:
    tenancy.lower_walls(op, WALLS)
