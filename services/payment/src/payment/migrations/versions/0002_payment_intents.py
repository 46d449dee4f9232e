"""Payment intents: the full lifecycle, refunds, verified bank transfers, a log of every
provider call (also the ones that failed), webhook event de-duplication, and the simulated
card provider's own ledger (schema ``simulated_provider``: the provider's state, not ours).

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

STATUSES = (
    "'requires_payment_method', 'requires_action', 'processing', 'authorized', 'captured', "
    "'canceled', 'failed'"
)


def upgrade() -> None:
    op.drop_constraint("payments_status", "payments")
    op.execute("UPDATE payments SET status = 'canceled' WHERE status = 'voided'")
    op.execute("UPDATE payments SET status = 'failed' WHERE status = 'declined'")
    op.create_check_constraint("payments_status", "payments", f"status IN ({STATUSES})")
    op.add_column("payments", sa.Column("tenant_id", sa.Text))
    for name in ("captured_amount", "refunded_amount"):
        op.add_column(
            "payments", sa.Column(name, sa.Numeric(18, 6), nullable=False, server_default="0")
        )
    op.execute("UPDATE payments SET captured_amount = amount WHERE status = 'captured'")
    op.create_check_constraint(
        "payments_refunds_within_capture",
        "payments",
        "refunded_amount >= 0 AND refunded_amount <= captured_amount AND captured_amount <= amount",
    )
    op.add_column("payments", sa.Column("next_action", sa.Text))
    op.add_column("payments", sa.Column("saga_step", sa.Text))  # answered when action completes
    op.add_column("payments", sa.Column("pay_by", sa.DateTime(timezone=True)))
    op.add_column("payments", sa.Column("verified_at", sa.DateTime(timezone=True)))
    op.add_column("payments", sa.Column("verified_by", sa.Text))
    op.add_column(
        "payments", sa.Column("late", sa.Boolean, nullable=False, server_default=sa.false())
    )
    op.create_index("payments_provider_ref_idx", "payments", ["provider", "provider_ref"])
    op.create_index(
        "payments_pay_by_idx",
        "payments",
        ["pay_by"],
        postgresql_where=sa.text("status = 'requires_action'"),
    )

    op.create_table(
        "refunds",
        sa.Column("id", UUID(as_uuid=False), primary_key=True),
        sa.Column("payment_id", UUID(as_uuid=False), sa.ForeignKey("payments.id"), nullable=False),
        sa.Column("idempotency_key", sa.Text, nullable=False),
        sa.Column("amount", sa.Numeric(18, 6), nullable=False),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("requested_by", sa.Text),
        sa.Column("provider_ref", sa.Text, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.UniqueConstraint("payment_id", "idempotency_key", name="refunds_once_per_key"),
        sa.CheckConstraint("amount > 0", name="refunds_amount_positive"),
    )

    op.alter_column("provider_calls", "payment_id", nullable=True)
    op.add_column("provider_calls", sa.Column("booking_id", sa.Text))
    op.add_column("provider_calls", sa.Column("provider", sa.Text))
    op.add_column("provider_calls", sa.Column("error", sa.Text))
    op.add_column("provider_calls", sa.Column("duration_ms", sa.Integer))
    op.alter_column("provider_calls", "result", nullable=True)
    op.create_index("provider_calls_key_idx", "provider_calls", ["idempotency_key"])

    op.create_table(
        "provider_events",
        sa.Column("provider", sa.Text, primary_key=True),
        sa.Column("event_id", sa.Text, primary_key=True),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("payload", JSONB, nullable=False),
        sa.Column(
            "received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )

    op.execute("CREATE SCHEMA IF NOT EXISTS simulated_provider")
    op.create_table(
        "operations",
        sa.Column("idempotency_key", sa.Text, primary_key=True),
        sa.Column("operation", sa.Text, nullable=False),
        sa.Column("provider_ref", sa.Text, nullable=False),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("decline_code", sa.Text),
        sa.Column("next_action", sa.Text),
        sa.Column("amount", sa.Numeric(18, 6)),
        sa.Column("currency", sa.Text),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        schema="simulated_provider",
    )


def downgrade() -> None:
    raise NotImplementedError("payment intents cannot be folded back into the skeleton's states")
