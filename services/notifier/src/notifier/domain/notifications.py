"""Which notification an event causes. Pure.

For now every ``booking.*`` event produces one notification on the ``log`` channel; email and
webhooks arrive with the notifier issue.
"""

from __future__ import annotations

from dataclasses import dataclass

CHANNEL_LOG = "log"


@dataclass(frozen=True)
class NotificationIntent:
    channel: str
    template: str


def intents_for(event_type: str) -> list[NotificationIntent]:
    base = event_type.rsplit(".v", 1)[0]  # booking.confirmed.v1 -> booking.confirmed
    return [NotificationIntent(CHANNEL_LOG, base)]
