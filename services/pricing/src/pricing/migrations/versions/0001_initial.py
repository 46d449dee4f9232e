"""Rate plans, quotes, outbox and inbox.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

from messaging.migrations import create_messaging_tables, drop_messaging_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_plans",
        sa.Column("id", UUID(as_uuid=False), primary_key=True),
        sa.Column("resource_id", sa.Text, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("nightly_rate", sa.Numeric(18, 6), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.CheckConstraint("nightly_rate > 0", name="rate_plans_rate_positive"),
    )
    op.create_index("ix_rate_plans_resource_id", "rate_plans", ["resource_id"])
    op.create_table(
        "quotes",
        sa.Column("id", UUID(as_uuid=False), primary_key=True),
        sa.Column("booking_id", sa.Text, nullable=False, unique=True),
        sa.Column("rate_plan_id", UUID(as_uuid=False), nullable=False),
        sa.Column("nights", sa.Integer, nullable=False),
        sa.Column("nightly_rate", sa.Numeric(18, 6), nullable=False),
        sa.Column("total", sa.Numeric(18, 6), nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    create_messaging_tables(op)


def downgrade() -> None:
    drop_messaging_tables(op)
    op.drop_table("quotes")
    op.drop_table("rate_plans")
