"""Which messages travel on which topic, and how each topic's messages may evolve.

* Commands go to their participant's command topic, replies to ``booking.saga.replies``,
  events to their service's public event topic.
* ``FULL`` compatibility, every topic: a consumer built on older contracts reads newer messages
  (new fields are optional and ignored by tolerant readers) and a newer consumer reads older
  ones. Events are read by consumers the platform does not deploy; commands and replies by its
  own services, whose Deployments roll one at a time, so old and new builds of a consumer
  share a topic during every upgrade (docs/OPERATIONS.md, "Upgrading"). ``BACKWARD`` (a newer
  consumer reads older messages) remains for a topic whose consumers are always upgraded
  before its producers; none is, today.
"""

from __future__ import annotations

from enum import StrEnum

from contracts import booking, inventory, payment, pricing
from contracts.base import Command, ContractMessage, Event, Reply
from contracts.registry import REGISTRY
from contracts.topics import (
    BOOKING_EVENTS,
    BOOKING_SAGA_REPLIES,
    INVENTORY_COMMANDS,
    INVENTORY_EVENTS,
    PAYMENT_COMMANDS,
    PAYMENT_EVENTS,
    PRICING_COMMANDS,
    PRIMARY_TOPICS,
    TopicSpec,
)


class Compatibility(StrEnum):
    BACKWARD = "BACKWARD"
    FULL = "FULL"


_COMMANDS = {
    inventory.__name__: INVENTORY_COMMANDS,
    pricing.__name__: PRICING_COMMANDS,
    payment.__name__: PAYMENT_COMMANDS,
}
_EVENTS = {
    inventory.__name__: INVENTORY_EVENTS,
    payment.__name__: PAYMENT_EVENTS,
    booking.__name__: BOOKING_EVENTS,
}


def topic_of(model: type[ContractMessage]) -> TopicSpec:
    if issubclass(model, Reply):
        return BOOKING_SAGA_REPLIES
    table = _COMMANDS if issubclass(model, Command) else _EVENTS if issubclass(model, Event) else {}
    try:
        return table[model.__module__]
    except KeyError:
        raise LookupError(f"no topic for {model.__module__}.{model.__name__}") from None


def compatibility(model: type[ContractMessage]) -> Compatibility:
    """FULL for every message (see the module docstring)."""
    del model
    return Compatibility.FULL


def messages_on(topic: TopicSpec) -> list[type[ContractMessage]]:
    return [m for _, m in sorted(REGISTRY.items()) if topic_of(m) == topic]


PRODUCERS: dict[str, str] = {
    INVENTORY_COMMANDS.name: "booking",
    PRICING_COMMANDS.name: "booking",
    PAYMENT_COMMANDS.name: "booking",
    BOOKING_SAGA_REPLIES.name: "inventory, pricing, payment",
    BOOKING_EVENTS.name: "booking",
    INVENTORY_EVENTS.name: "inventory",
    PAYMENT_EVENTS.name: "payment",
}
CONSUMERS: dict[str, str] = {
    INVENTORY_COMMANDS.name: "inventory",
    PRICING_COMMANDS.name: "pricing",
    PAYMENT_COMMANDS.name: "payment",
    BOOKING_SAGA_REPLIES.name: "booking",
    BOOKING_EVENTS.name: "notifier, downstream analytics",
    INVENTORY_EVENTS.name: "booking (waitlist), anyone",
    PAYMENT_EVENTS.name: "booking (late payments, refunds), anyone",
}
assert set(PRODUCERS) == set(CONSUMERS) == {t.name for t in PRIMARY_TOPICS}
