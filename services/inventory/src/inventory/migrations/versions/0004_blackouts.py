"""Venues on resources; blackouts per resource, per venue or tenant-wide.

Revision ID: 0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("resources", sa.Column("venue_id", sa.Text))
    op.create_index("resources_venue_idx", "resources", ["tenant_id", "venue_id"])
    op.create_table(
        "blackouts",
        sa.Column("id", UUID(as_uuid=False), primary_key=True),
        sa.Column("tenant_id", sa.Text, nullable=False, server_default="default"),
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("resource_id", UUID(as_uuid=False), sa.ForeignKey("resources.id")),
        sa.Column("venue_id", sa.Text),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("starts_on", sa.Date, nullable=False),
        sa.Column("ends_on", sa.Date, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.CheckConstraint("ends_on > starts_on", name="blackouts_period"),
        sa.CheckConstraint(
            "kind IN ('holiday', 'maintenance', 'weather', 'owner_use', 'custom')",
            name="blackouts_kind",
        ),
        sa.CheckConstraint(
            "(scope = 'resource' AND resource_id IS NOT NULL AND venue_id IS NULL) OR "
            "(scope = 'venue' AND venue_id IS NOT NULL AND resource_id IS NULL) OR "
            "(scope = 'tenant' AND resource_id IS NULL AND venue_id IS NULL)",
            name="blackouts_scope",
        ),
    )
    op.create_index("blackouts_lookup_idx", "blackouts", ["tenant_id", "starts_on", "ends_on"])


def downgrade() -> None:
    op.drop_table("blackouts")
    op.drop_index("resources_venue_idx", "resources")
    op.drop_column("resources", "venue_id")
