"""Row-level security, the second wall between tenants (messaging.tenancy): every
tenant-owned table shows and accepts only the rows of the tenant the session acts for, whatever
a query's own filter says. Rows that belong to a parent row follow its tenant.

Revision ID: 0005
"""

from alembic import op

from messaging import tenancy

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

WALLS = [
    tenancy.by_column("rate_plans"),
    tenancy.by_column("quotes"),
]


def upgrade() -> None:
    tenancy.raise_walls(op, WALLS)


def downgrade() -> None:
    tenancy.lower_walls(op, WALLS)
