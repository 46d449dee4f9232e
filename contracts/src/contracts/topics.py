"""Every topic on the platform, declared once with partitions, configs and key.

Project code (``messaging.admin.ensure_topics``) creates them; the Helm chart renders them.
Each topic has a dead-letter twin ``<name>.dlq`` with the same partition count.
"""

from __future__ import annotations

from dataclasses import dataclass, field

WEEK_MS = 7 * 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    key: str
    description: str
    configs: dict[str, str] = field(default_factory=dict)

    @property
    def dlq(self) -> TopicSpec:
        return TopicSpec(
            name=f"{self.name}.dlq",
            partitions=self.partitions,
            key=self.key,
            description=f"Dead letters of {self.name}: messages that can never succeed.",
            configs={"retention.ms": str(4 * WEEK_MS)},
        )


_SAGA = {"retention.ms": str(WEEK_MS), "cleanup.policy": "delete"}

INVENTORY_COMMANDS = TopicSpec(
    "inventory.commands", 6, "booking id", "Commands to the inventory service.", dict(_SAGA)
)
PRICING_COMMANDS = TopicSpec(
    "pricing.commands", 6, "booking id", "Commands to the pricing service.", dict(_SAGA)
)
PAYMENT_COMMANDS = TopicSpec(
    "payment.commands", 6, "booking id", "Commands to the payment service.", dict(_SAGA)
)
BOOKING_SAGA_REPLIES = TopicSpec(
    "booking.saga.replies",
    6,
    "booking id",
    "Replies of inventory, pricing and payment to the booking saga orchestrator.",
    dict(_SAGA),
)
BOOKING_EVENTS = TopicSpec(
    "booking.events",
    6,
    "booking id",
    "Public booking lifecycle events (booking.*), ordered per booking.",
    {"retention.ms": str(4 * WEEK_MS), "cleanup.policy": "delete"},
)

INVENTORY_EVENTS = TopicSpec(
    "inventory.events",
    6,
    "resource id",
    "Public inventory events (capacity released, hold expired) for the waitlist and others.",
    {"retention.ms": str(WEEK_MS), "cleanup.policy": "delete"},
)

PAYMENT_EVENTS = TopicSpec(
    "payment.events",
    6,
    "booking id",
    "Public payment events: a late payment (after its booking gave up on it), refunds.",
    {"retention.ms": str(4 * WEEK_MS), "cleanup.policy": "delete"},
)

PRIMARY_TOPICS: tuple[TopicSpec, ...] = (
    INVENTORY_COMMANDS,
    INVENTORY_EVENTS,
    PAYMENT_EVENTS,
    PRICING_COMMANDS,
    PAYMENT_COMMANDS,
    BOOKING_SAGA_REPLIES,
    BOOKING_EVENTS,
)
ALL_TOPICS: tuple[TopicSpec, ...] = PRIMARY_TOPICS + tuple(t.dlq for t in PRIMARY_TOPICS)


def max_retention_ms(topics: tuple[TopicSpec, ...] = ALL_TOPICS) -> int:
    """The longest any declared topic keeps a message (what deduplication must outlive)."""
    return max(int(t.configs.get("retention.ms", str(WEEK_MS))) for t in topics)


# Who writes and who reads each topic: each service's Kafka principal is allowed exactly this
# (messaging.acls), and may publish dead letters of what it reads (``<topic>.dlq``).
PRODUCES: dict[str, tuple[TopicSpec, ...]] = {
    "booking": (INVENTORY_COMMANDS, PRICING_COMMANDS, PAYMENT_COMMANDS, BOOKING_EVENTS),
    "inventory": (BOOKING_SAGA_REPLIES, INVENTORY_EVENTS),
    "pricing": (BOOKING_SAGA_REPLIES,),
    "payment": (BOOKING_SAGA_REPLIES, PAYMENT_EVENTS),
    "notifier": (),
}
CONSUMES: dict[str, tuple[TopicSpec, ...]] = {
    "booking": (BOOKING_SAGA_REPLIES, PAYMENT_EVENTS, INVENTORY_EVENTS),
    "inventory": (INVENTORY_COMMANDS,),
    "pricing": (PRICING_COMMANDS,),
    "payment": (PAYMENT_COMMANDS,),
    "notifier": (BOOKING_EVENTS,),
}
