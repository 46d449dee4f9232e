"""Kafka ACLs: each service's principal produces only to its own topics and reads only its
subscriptions (``contracts.topics.PRODUCES`` / ``CONSUMES``), nothing else.

Per service ``<svc>`` (principal ``User:<svc>`` unless told otherwise):

* WRITE (and so DESCRIBE) on the topics it produces;
* READ on the topics it consumes, WRITE on their dead-letter twins (a poison message);
* READ on its consumer group ``<svc>-worker``;
* booking only: DESCRIBE on the participants' groups, whose lag its step timer reads before it
  resends a command.

Applied by ``bpctl acls apply`` (the chart's topics Job runs it) and by the local platform,
through the admin principal (a super user); ``bpctl acls show`` prints them. Downstream
consumers get READ on ``booking.events`` and their own group prefix (``acls.reader``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from aiokafka.protocol.admin import CreateAclsRequest

from contracts.topics import CONSUMES, PRODUCES, TopicSpec

# The Kafka protocol's codes (org.apache.kafka.common.acl / resource).
TOPIC, GROUP = 2, 3
LITERAL, PREFIXED = 3, 4
READ, WRITE, DESCRIBE = 3, 4, 8
ALLOW = 3
_OPERATIONS = {READ: "READ", WRITE: "WRITE", DESCRIBE: "DESCRIBE"}
_RESOURCES = {TOPIC: "topic", GROUP: "group"}


@dataclass(frozen=True, order=True)
class Acl:
    principal: str  # User:<name>
    resource_type: int
    resource: str
    operation: int
    pattern: int = LITERAL

    def __str__(self) -> str:
        prefix = "*" if self.pattern == PREFIXED else ""
        return (
            f"{self.principal} {_OPERATIONS[self.operation]} {_RESOURCES[self.resource_type]} "
            f"{self.resource}{prefix}"
        )


def for_service(service: str, principal: str | None = None) -> list[Acl]:
    user = f"User:{principal or service}"
    acls = [Acl(user, TOPIC, t.name, WRITE) for t in PRODUCES[service]]
    for t in CONSUMES[service]:
        acls += [Acl(user, TOPIC, t.name, READ), Acl(user, TOPIC, t.dlq.name, WRITE)]
    acls.append(Acl(user, GROUP, f"{service}-worker", READ))
    if service == "booking":
        participants = [s for s, topics in CONSUMES.items() if _commands(topics)]
        acls += [Acl(user, GROUP, f"{s}-worker", DESCRIBE) for s in participants]
    return sorted(set(acls))


def _commands(topics: Iterable[TopicSpec]) -> bool:
    return any(t.name.endswith(".commands") for t in topics)


def platform(principals: Mapping[str, str] | None = None) -> list[Acl]:
    """Every service's ACLs; ``principals`` maps a service to its principal's name."""
    principals = principals or {}
    return sorted(a for s in PRODUCES for a in for_service(s, principals.get(s)))


def reader(principal: str, group_prefix: str, topics: Iterable[TopicSpec]) -> list[Acl]:
    """A downstream consumer: READ on ``topics`` and on its groups ``<group_prefix>*``."""
    user = f"User:{principal}"
    acls = [Acl(user, TOPIC, t.name, READ) for t in topics]
    acls.append(Acl(user, GROUP, group_prefix, READ, PREFIXED))
    return sorted(acls)


async def apply(admin: object, acls: Iterable[Acl]) -> int:
    """Create ``acls`` through a started ``AIOKafkaAdminClient`` of a principal allowed to
    (creating one that exists is a no-op in Kafka); returns how many were sent."""
    sent = 0
    for acl in acls:
        request = CreateAclsRequest(
            acl.resource_type, acl.resource, acl.pattern, acl.principal, "*", acl.operation, ALLOW
        )
        response = await admin._send_request(request)  # type: ignore[attr-defined]
        for error_code, error_message in response.creation_responses:
            if error_code:
                raise RuntimeError(f"Kafka refused the ACL {acl}: {error_code} {error_message}")
        sent += 1
    return sent
