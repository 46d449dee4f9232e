"""Alembic operations that create the outbox and inbox, shared by every service's first migration."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID


def create_messaging_tables(op: Any) -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("message_id", UUID(as_uuid=False), nullable=False, unique=True),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("ce_type", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("subject", sa.Text),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("traceparent", sa.Text),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
    )
    op.create_index(
        "outbox_unsent_idx", "outbox", ["id"], postgresql_where=sa.text("sent_at IS NULL")
    )
    op.create_index(
        "outbox_unsent_key_idx",
        "outbox",
        ["key", "id"],
        postgresql_where=sa.text("sent_at IS NULL"),
    )
    op.create_index(
        "outbox_sent_at_idx", "outbox", ["sent_at"], postgresql_where=sa.text("sent_at IS NOT NULL")
    )
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.Text, nullable=False),
        sa.Column("message_source", sa.Text, nullable=False),
        sa.Column("message_id", sa.Text, nullable=False),
        sa.Column("ce_type", sa.Text, nullable=False),
        sa.Column(
            "received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("consumer", "message_source", "message_id", name="inbox_pkey"),
    )
    op.create_index("inbox_received_at_idx", "inbox", ["received_at"])


def add_fault_tolerance(op: Any) -> None:
    """Held and set-aside outbox rows, where sent rows landed, and the poison-message counter
    (every service's migration after its first adds these)."""
    op.add_column(
        "outbox", sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0"))
    )
    op.add_column("outbox", sa.Column("last_error", sa.Text))
    op.add_column("outbox", sa.Column("held_until", sa.DateTime(timezone=True)))
    op.add_column("outbox", sa.Column("kafka_partition", sa.Integer))
    op.add_column("outbox", sa.Column("kafka_offset", sa.BigInteger))
    op.create_index(
        "outbox_held_key_idx",
        "outbox",
        ["key"],
        postgresql_where=sa.text("sent_at IS NULL AND held_until IS NOT NULL"),
    )
    op.create_table(
        "consumer_deliveries",
        sa.Column("consumer", sa.Text, nullable=False),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("partition", sa.Integer, nullable=False),
        sa.Column("offset", sa.BigInteger, nullable=False),
        sa.Column("starts", sa.Integer, nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("consumer", "topic", "partition", name="consumer_deliveries_pkey"),
    )


def drop_fault_tolerance(op: Any) -> None:
    op.drop_table("consumer_deliveries")
    op.drop_index("outbox_held_key_idx", table_name="outbox")
    for column in ("kafka_offset", "kafka_partition", "held_until", "last_error", "attempts"):
        op.drop_column("outbox", column)


def drop_messaging_tables(op: Any) -> None:
    op.drop_table("inbox")
    op.drop_table("outbox")
