"""Resource groups (a room type with N rooms, a pool of staff): a claim on the group is given
a specific free unit.

Revision ID: 0005
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "resource_groups",
        sa.Column("id", UUID(as_uuid=False), primary_key=True),
        sa.Column("tenant_id", sa.Text, nullable=False, server_default="default"),
        sa.Column("venue_id", sa.Text),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False, server_default="room"),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.add_column(
        "resources",
        sa.Column("group_id", UUID(as_uuid=False), sa.ForeignKey("resource_groups.id")),
    )
    op.create_index("resources_group_idx", "resources", ["group_id"])
    op.add_column("reservations", sa.Column("group_id", UUID(as_uuid=False)))


def downgrade() -> None:
    op.drop_column("reservations", "group_id")
    op.drop_index("resources_group_idx", "resources")
    op.drop_column("resources", "group_id")
    op.drop_table("resource_groups")
