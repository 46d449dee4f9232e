"""Email and webhooks: booking views, webhook endpoints, and notifications that carry their
message and delivery schedule, with a log of attempts.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "booking_views",
        sa.Column("booking_id", sa.Text, primary_key=True),
        sa.Column("tenant_id", sa.Text),
        sa.Column("reference", sa.Text),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("contact", JSONB),
        sa.Column("resource_id", sa.Text),
        sa.Column("resource_name", sa.Text),
        sa.Column("timezone", sa.Text),
        sa.Column("check_in", sa.Date),
        sa.Column("check_out", sa.Date),
        sa.Column("starts_at", sa.DateTime(timezone=True)),
        sa.Column("ends_at", sa.DateTime(timezone=True)),
        sa.Column("is_slot", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("party_size", sa.Integer),
        sa.Column("total_amount", sa.Numeric(18, 6)),
        sa.Column("currency", sa.Text),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", UUID(as_uuid=False), primary_key=True),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("event_types", sa.ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'")),
        sa.Column("secret", sa.Text, nullable=False),
        sa.Column("previous_secret", sa.Text),
        sa.Column("previous_secret_expires_at", sa.DateTime(timezone=True)),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("disabled_reason", sa.Text),
        sa.Column("disabled_at", sa.DateTime(timezone=True)),
        sa.Column("created_by", sa.Text),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.create_index("webhook_endpoints_tenant_idx", "webhook_endpoints", ["tenant_id", "status"])

    # The first notifications were records on a "log" channel; they stay, as history.
    op.drop_constraint("notifications_once_per_channel", "notifications", type_="unique")
    op.alter_column("notifications", "booking_id", nullable=True)
    op.add_column(
        "notifications",
        sa.Column("seq", sa.BigInteger, sa.Identity(always=False), nullable=False),
    )
    op.create_unique_constraint("notifications_seq_key", "notifications", ["seq"])
    op.add_column("notifications", sa.Column("tenant_id", sa.Text))
    op.add_column("notifications", sa.Column("target", sa.Text, nullable=False, server_default=""))
    op.add_column(
        "notifications",
        sa.Column(
            "endpoint_id",
            UUID(as_uuid=False),
            sa.ForeignKey("webhook_endpoints.id", ondelete="CASCADE"),
        ),
    )
    op.add_column("notifications", sa.Column("recipient", sa.Text))
    op.add_column("notifications", sa.Column("payload", JSONB))
    op.add_column("notifications", sa.Column("order_key", sa.Text))
    op.add_column(
        "notifications",
        sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
    )
    op.add_column("notifications", sa.Column("next_attempt_at", sa.DateTime(timezone=True)))
    op.add_column("notifications", sa.Column("lease_token", UUID(as_uuid=False)))
    op.add_column("notifications", sa.Column("last_attempt_at", sa.DateTime(timezone=True)))
    op.add_column("notifications", sa.Column("last_code", sa.Integer))
    op.add_column("notifications", sa.Column("last_error", sa.Text))
    op.add_column("notifications", sa.Column("delivered_at", sa.DateTime(timezone=True)))
    op.add_column(
        "notifications",
        sa.Column("replays", sa.Integer, nullable=False, server_default=sa.text("0")),
    )
    op.add_column(
        "notifications",
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.create_unique_constraint(
        "notifications_once_per_target",
        "notifications",
        ["event_source", "event_id", "channel", "target"],
    )
    op.create_index(
        "notifications_due_idx",
        "notifications",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "notifications_order_idx",
        "notifications",
        ["order_key", "seq"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index("notifications_endpoint_idx", "notifications", ["endpoint_id", "seq"])

    op.create_table(
        "delivery_attempts",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column(
            "notification_id",
            UUID(as_uuid=False),
            sa.ForeignKey("notifications.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_ms", sa.Integer, nullable=False),
        sa.Column("code", sa.Integer),
        sa.Column("error", sa.Text),
        sa.Column("response", sa.Text),
        sa.Column("verdict", sa.Text, nullable=False),
    )
    op.create_index(
        "delivery_attempts_notification_idx", "delivery_attempts", ["notification_id", "id"]
    )


def downgrade() -> None:
    op.drop_table("delivery_attempts")
    for index in ("notifications_endpoint_idx", "notifications_order_idx", "notifications_due_idx"):
        op.drop_index(index, "notifications")
    op.drop_constraint("notifications_once_per_target", "notifications", type_="unique")
    op.drop_constraint("notifications_seq_key", "notifications", type_="unique")
    for column in (
        "updated_at",
        "replays",
        "delivered_at",
        "last_error",
        "last_code",
        "last_attempt_at",
        "lease_token",
        "next_attempt_at",
        "attempts",
        "order_key",
        "payload",
        "recipient",
        "endpoint_id",
        "target",
        "tenant_id",
        "seq",
    ):
        op.drop_column("notifications", column)
    op.execute("DELETE FROM notifications WHERE booking_id IS NULL")
    op.alter_column("notifications", "booking_id", nullable=False)
    op.create_unique_constraint(
        "notifications_once_per_channel", "notifications", ["event_source", "event_id", "channel"]
    )
    op.drop_index("webhook_endpoints_tenant_idx", "webhook_endpoints")
    op.drop_table("webhook_endpoints")
    op.drop_table("booking_views")
