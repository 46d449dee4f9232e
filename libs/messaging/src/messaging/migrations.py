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


def drop_messaging_tables(op: Any) -> None:
    op.drop_table("inbox")
    op.drop_table("outbox")
