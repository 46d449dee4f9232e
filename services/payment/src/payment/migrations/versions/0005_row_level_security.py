"""Row-level security, the second wall between tenants (messaging.tenancy): every
tenant-owned table shows and accepts only the rows of the tenant the session acts for, whatever
a query's own filter says. Rows that belong to a parent row follow its tenant.

Revision ID: 0005
"""

import sqlalchemy as sa
from alembic import op

from messaging import tenancy

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

WALLS = [
    tenancy.by_column("payments"),
    tenancy.by_parent("refunds", "payment_id", "payments"),
    # A provider call is recorded before its payment row may exist: it names its tenant
    # itself, the one its session acts for.
    tenancy.by_column("provider_calls"),
]


def upgrade() -> None:
    op.add_column(
        "provider_calls",
        sa.Column("tenant_id", sa.Text, server_default=sa.text(tenancy.ACTING_TENANT_DEFAULT)),
    )
    op.execute(
        "UPDATE provider_calls c SET tenant_id = p.tenant_id FROM payments p "
        "WHERE p.booking_id = c.booking_id AND c.tenant_id IS NULL"
    )
    tenancy.raise_walls(op, WALLS)


def downgrade() -> None:
    tenancy.lower_walls(op, WALLS)
    op.drop_column("provider_calls", "tenant_id")
