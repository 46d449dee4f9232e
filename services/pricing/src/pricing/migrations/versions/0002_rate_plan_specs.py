"""Rate plans become full plan documents (basis, weekend, seasons, discounts, fees, taxes,
party categories, cancellation policy) per resource or venue and tenant; quotes keep their lines
and the policy snapshot, and may exist before a booking does (REST quotes).

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "rate_plans", sa.Column("tenant_id", sa.Text, nullable=False, server_default="demo")
    )
    op.add_column("rate_plans", sa.Column("venue_id", sa.Text))
    op.add_column("rate_plans", sa.Column("name", sa.Text, nullable=False, server_default=""))
    op.add_column("rate_plans", sa.Column("spec", JSONB))
    op.add_column(
        "rate_plans", sa.Column("version", sa.Integer, nullable=False, server_default="1")
    )
    op.add_column(
        "rate_plans",
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    # Existing plans were nightly rates under the default taxes and policy.
    op.execute(
        "UPDATE rate_plans SET spec = jsonb_build_object('currency', currency, "
        "'basis', 'per_night', 'base_price', nightly_rate::numeric(18, 3)::text)"
    )
    op.alter_column("rate_plans", "spec", nullable=False)
    op.drop_constraint("rate_plans_rate_positive", "rate_plans")
    op.drop_column("rate_plans", "nightly_rate")
    op.alter_column("rate_plans", "resource_id", nullable=True)
    op.create_check_constraint(
        "rate_plans_resource_or_venue",
        "rate_plans",
        "(resource_id IS NULL) <> (venue_id IS NULL)",
    )
    op.create_index(
        "rate_plans_venue_idx", "rate_plans", ["venue_id"], postgresql_where=sa.text("active")
    )

    op.add_column("quotes", sa.Column("tenant_id", sa.Text))
    op.add_column("quotes", sa.Column("resource_id", sa.Text))
    op.add_column("quotes", sa.Column("rate_plan_version", sa.Integer))
    op.add_column("quotes", sa.Column("doc", JSONB))
    op.add_column("quotes", sa.Column("valid_until", sa.DateTime(timezone=True)))
    op.alter_column("quotes", "booking_id", nullable=True)
    op.alter_column("quotes", "nightly_rate", nullable=True)
    op.create_check_constraint("quotes_total_not_negative", "quotes", "total >= 0")


def downgrade() -> None:
    raise NotImplementedError("rate plan documents cannot be folded back into one nightly rate")
