"""aiokafka clients configured the way the platform needs them.

Saga-path latency rules: producers do not linger (batching only what is already queued) and
consumers never sit in a long fetch wait.
"""

from __future__ import annotations

import logging

import tenacity
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from contracts.topics import ALL_TOPICS, TopicSpec
from messaging import security

log = logging.getLogger(__name__)

# Upper bound for a consumer's fetch wait: the broker answers a parked fetch as soon as one byte
# arrives, so this caps how long an *idle* fetch is parked and how often idle consumers poll
# (aiokafka defaults to 500 ms, faust hardcodes 1500 ms). It is not free under load: aiokafka
# keeps one fetch in flight per broker, and a partition whose records waited unconsumed past
# the prefetch backoff (a busy worker) is left out of the next one, so it can wait up to this
# long. Measured trade-off in docs/ARCHITECTURE.md ("Performance").
FETCH_MAX_WAIT_MS = 500


def reliable_producer(bootstrap_servers: str, client_id: str) -> AIOKafkaProducer:
    """Idempotent, ``acks=all``, no linger: what the outbox relay and the DLQ publish with."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        **security.client_kwargs(),
        enable_idempotence=True,
        acks="all",
        linger_ms=0,
        request_timeout_ms=30_000,
        retry_backoff_ms=100,
    )


def durable_configs(topic: TopicSpec, replication_factor: int) -> dict[str, str]:
    """The topic's declared configs, and what makes an acknowledged write survive a broker:
    with ``acks=all``, ``min.insync.replicas`` of RF-1 (at least 1) replicas must have it, and
    no replica that missed writes may become leader (``unclean.leader.election.enable``)."""
    return {
        "min.insync.replicas": str(max(1, replication_factor - 1)),
        "unclean.leader.election.enable": "false",
        **topic.configs,
    }


async def ensure_topics(
    bootstrap_servers: str,
    topics: tuple[TopicSpec, ...] = ALL_TOPICS,
    *,
    replication_factor: int = 1,
    timeout_s: float = 60.0,
) -> list[str]:
    """Create the declared topics that do not exist yet; returns the names created.

    Idempotent: safe to run from every replica of a migration job or launcher.
    """
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers, client_id="topic-admin", **security.client_kwargs()
    )
    # A broker that is still starting (the launcher, a Helm hook beside a new cluster): try
    # again every half second until the timeout, then fail with the last error.
    async for attempt in tenacity.AsyncRetrying(
        stop=tenacity.stop_after_delay(timeout_s), wait=tenacity.wait_fixed(0.5), reraise=True
    ):
        with attempt:
            await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t.name not in existing]
        if missing:
            new = [
                NewTopic(
                    name=t.name,
                    num_partitions=t.partitions,
                    replication_factor=replication_factor,
                    topic_configs=durable_configs(t, replication_factor),
                )
                for t in missing
            ]
            try:
                await admin.create_topics(new)
            except TopicAlreadyExistsError:
                log.info("topics created concurrently by another process")
        return [t.name for t in missing]
    finally:
        await admin.close()
