"""The one place two services (or a service and a downstream consumer) agree.

Everything here is data: message models, topic declarations and the CloudEvents header mapping.
This package has no runtime dependency but pydantic, so analytics consumers can depend on it alone.
"""

from contracts.base import Command, ContractMessage, Event, Money, Reply
from contracts.registry import REGISTRY, message_class

__all__ = ["REGISTRY", "Command", "ContractMessage", "Event", "Money", "Reply", "message_class"]
