"""Outbox and inbox tables. Every service adds them to its own metadata and migrations."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID

OUTBOX_CHANNEL = "outbox_wakeup"


def outbox_table(metadata: MetaData) -> Table:
    """Messages waiting to be published, written in the transaction of the change that caused them.

    ``id`` orders rows per key; it is never used as a cursor (sequence values commit out of
    order), the relay scans ``sent_at IS NULL`` through a partial index instead.

    A row Kafka refused is held (``held_until``) with its ``last_error`` and ``attempts``, and
    holds back the later rows of its key; after the relay's attempts it is set aside
    (``held_until = 'infinity'``) until an operator retries it. ``kafka_partition`` and
    ``kafka_offset`` say where a sent row landed (the saga asks whether a command was consumed).
    """
    return Table(
        "outbox",
        metadata,
        Column("id", BigInteger, Identity(always=True), primary_key=True),
        Column("message_id", UUID(as_uuid=False), nullable=False, unique=True),
        Column("topic", Text, nullable=False),
        Column("key", Text, nullable=False),
        Column("ce_type", Text, nullable=False),
        Column("source", Text, nullable=False),
        Column("subject", Text),
        Column("payload", Text, nullable=False),
        Column("traceparent", Text),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("sent_at", DateTime(timezone=True)),
        Column("attempts", Integer, nullable=False, server_default=text("0")),
        Column("last_error", Text),
        Column("held_until", DateTime(timezone=True)),
        Column("kafka_partition", Integer),
        Column("kafka_offset", BigInteger),
        Index("outbox_unsent_idx", "id", postgresql_where=text("sent_at IS NULL")),
        Index("outbox_unsent_key_idx", "key", "id", postgresql_where=text("sent_at IS NULL")),
        Index("outbox_sent_at_idx", "sent_at", postgresql_where=text("sent_at IS NOT NULL")),
        Index(
            "outbox_held_key_idx",
            "key",
            postgresql_where=text("sent_at IS NULL AND held_until IS NOT NULL"),
        ),
    )


def inbox_table(metadata: MetaData) -> Table:
    """Messages a consumer has applied, recorded in the same transaction as the effect."""
    return Table(
        "inbox",
        metadata,
        Column("consumer", Text, nullable=False),
        Column("message_source", Text, nullable=False),
        Column("message_id", Text, nullable=False),
        Column("ce_type", Text, nullable=False),
        Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        PrimaryKeyConstraint("consumer", "message_source", "message_id", name="inbox_pkey"),
        Index("inbox_received_at_idx", "received_at"),
    )


def deliveries_table(metadata: MetaData) -> Table:
    """Per consumer and partition, the record being applied and how many processes began it
    (``messaging.deliveries``: the poison-message counter)."""
    return Table(
        "consumer_deliveries",
        metadata,
        Column("consumer", Text, nullable=False),
        Column("topic", Text, nullable=False),
        Column("partition", Integer, nullable=False),
        Column("offset", BigInteger, nullable=False),
        Column("starts", Integer, nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        PrimaryKeyConstraint("consumer", "topic", "partition", name="consumer_deliveries_pkey"),
    )
