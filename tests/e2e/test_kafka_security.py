"""The platform's Kafka is reached over SASL_SSL only, each service as its own principal, and
each principal may produce only to its own topics and read only its subscriptions
(messaging.acls). Shown against the test platform's broker, which the whole suite runs on: a
client in plain text, with a wrong password or trusting another CA gets nowhere, and a service
that tries what another service does (pricing forging a refund command, payment writing a
booking event, notifier reading payment commands) is refused by the broker."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import threading
import urllib.parse
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.abc import AbstractTokenProvider
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    KafkaError,
    TopicAuthorizationFailedError,
)
from cryptography.hazmat.primitives.asymmetric import rsa

from contracts.topics import (
    BOOKING_EVENTS,
    CONSUMES,
    PAYMENT_COMMANDS,
    PRICING_COMMANDS,
    PRODUCES,
)
from devstack.kafka import ADMIN, NOBODY, KafkaBroker
from devstack.platform import SERVICES, Platform
from devstack.tls import LocalCA
from messaging import acls
from messaging.security import KafkaSecurity, KafkaSecurityError

pytestmark = pytest.mark.e2e


def _secured(platform: Platform) -> None:
    if platform.kafka is None:
        message = "an external cluster (KAFKA_BOOTSTRAP_SERVERS): its ACLs are its own"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must run this on the local secured broker")
        pytest.skip(message)
    if not platform.kafka.secured:
        pytest.fail("the test platform's broker must be the secured one (SASL_SSL with ACLs)")


async def _produce(platform: Platform, security: KafkaSecurity, topic: str) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=platform.bootstrap,
        request_timeout_ms=10_000,
        **security.client_kwargs(),
    )
    try:
        await producer.start()
        await asyncio.wait_for(producer.send_and_wait(topic, b"{}", key=b"probe"), 20)
    finally:
        await producer.stop()


async def _consume(platform: Platform, security: KafkaSecurity, topic: str, group: str) -> None:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=platform.bootstrap,
        group_id=group,
        enable_auto_commit=False,
        **security.client_kwargs(),
    )
    try:
        await consumer.start()
        await asyncio.wait_for(consumer.getmany(timeout_ms=2000), 20)
    finally:
        await consumer.stop()


async def _peek(platform: Platform, security: KafkaSecurity, topic: str, for_s: float = 5.0):
    """Fetch from every partition without a group (READ on the topic alone; commits nothing)
    for ``for_s``: the broker's refusal comes back from the first fetch."""
    from aiokafka import TopicPartition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=platform.bootstrap, enable_auto_commit=False, **security.client_kwargs()
    )
    try:
        await consumer.start()
        partitions = [TopicPartition(topic, p) for p in range(6)]
        consumer.assign(partitions)
        for tp in partitions:
            consumer.seek(tp, 0)  # no offset lookup (DESCRIBE) first: straight to the fetch
        deadline = asyncio.get_running_loop().time() + for_s
        while asyncio.get_running_loop().time() < deadline:
            await consumer.getmany(timeout_ms=200, max_records=1)
            # A topic the principal may not even DESCRIBE is refused at the metadata request,
            # before any fetch: the broker's answer, as the client recorded it.
            if topic in consumer._client.cluster.unauthorized_topics:
                raise TopicAuthorizationFailedError(topic)
    finally:
        await consumer.stop()


def _refused(coroutine: object, *errors: type[BaseException]) -> BaseException:
    try:
        asyncio.run(coroutine)  # type: ignore[arg-type]
    except errors as exc:
        return exc
    raise AssertionError(f"the broker allowed it: {coroutine}")


def test_a_client_in_plain_text_gets_nowhere(platform: Platform) -> None:
    _secured(platform)
    _refused(
        _produce(platform, KafkaSecurity(), BOOKING_EVENTS.name),
        KafkaConnectionError,
        KafkaError,
        TimeoutError,
    )


def test_a_wrong_password_is_refused(platform: Platform) -> None:
    _secured(platform)
    right = platform.kafka.security("booking")  # type: ignore[union-attr]
    wrong = KafkaSecurity(**{**right.__dict__, "password": "not-the-password"})
    _refused(_produce(platform, wrong, BOOKING_EVENTS.name), KafkaError, TimeoutError)


def test_a_broker_signed_by_another_ca_is_not_trusted(platform: Platform, tmp_path: Path) -> None:
    _secured(platform)
    stranger = LocalCA(tmp_path / "ca").ensure()
    right = platform.kafka.security("booking")  # type: ignore[union-attr]
    fooled = KafkaSecurity(**{**right.__dict__, "ca_file": str(stranger.cert)})
    _refused(_produce(platform, fooled, BOOKING_EVENTS.name), KafkaError, TimeoutError, OSError)


@pytest.mark.parametrize("service", list(SERVICES))
def test_each_service_may_produce_to_its_own_topics_only(platform: Platform, service: str) -> None:
    _secured(platform)
    security = platform.kafka.security(service)  # type: ignore[union-attr]
    # What it may produce it does all along (the suite's bookings); probing it would put a
    # stray record before the consumers. What it may not, it is refused:
    own = {t.name for t in PRODUCES[service]}
    others = {t.name for ts in PRODUCES.values() for t in ts} - own
    for topic in sorted(others):
        _refused(_produce(platform, security, topic), TopicAuthorizationFailedError)


def test_a_participant_cannot_forge_another_ones_commands(platform: Platform) -> None:
    """Pricing (or anything holding its credentials) producing RefundPayment for any tenant."""
    _secured(platform)
    pricing = platform.kafka.security("pricing")  # type: ignore[union-attr]
    _refused(_produce(platform, pricing, PAYMENT_COMMANDS.name), TopicAuthorizationFailedError)


@pytest.mark.parametrize("service", list(SERVICES))
def test_each_service_may_read_its_subscriptions_only(platform: Platform, service: str) -> None:
    _secured(platform)
    security = platform.kafka.security(service)  # type: ignore[union-attr]
    mine = {t.name for t in CONSUMES[service]}
    for topic in sorted(mine):
        asyncio.run(_peek(platform, security, topic))  # allowed
    foreign = sorted({t.name for ts in CONSUMES.values() for t in ts} - mine)
    for topic in foreign:
        try:
            _refused(_peek(platform, security, topic), TopicAuthorizationFailedError)
        except AssertionError as exc:
            raise AssertionError(f"{service} may read {topic}") from exc
    # Nor may it consume in any group but its own (the real one is not joined here: a probe
    # member would make the live workers rebalance).
    other = next(s for s in SERVICES if s != service)
    _refused(
        _consume(platform, security, sorted(mine)[0], f"{other}-probe-{uuid.uuid4().hex[:4]}"),
        GroupAuthorizationFailedError,
        TopicAuthorizationFailedError,
    )


def test_a_principal_without_acls_may_do_nothing(platform: Platform) -> None:
    _secured(platform)
    nobody = platform.kafka.security(NOBODY)  # type: ignore[union-attr]
    _refused(_produce(platform, nobody, BOOKING_EVENTS.name), TopicAuthorizationFailedError)
    _refused(
        _consume(platform, nobody, BOOKING_EVENTS.name, "nobody"),
        TopicAuthorizationFailedError,
        GroupAuthorizationFailedError,
    )


def test_the_declared_acls_are_what_bpctl_shows() -> None:
    shown = {str(a) for a in acls.platform()}
    assert "User:pricing WRITE topic booking.saga.replies" in shown
    assert "User:pricing READ topic pricing.commands" in shown
    assert "User:pricing WRITE topic pricing.commands.dlq" in shown
    assert not [a for a in shown if a.startswith("User:pricing WRITE topic payment.")]
    assert "User:booking DESCRIBE group payment-worker" in shown


class _IdentityProvider:
    """A stand-in OAuth 2 token endpoint (client-credentials grant) for the broker's issuer:
    each principal's client secret is its SCRAM password; the access token names it as ``sub``.
    Counts the grants it answered."""

    def __init__(self, platform: Platform) -> None:
        assert platform.kafka is not None
        broker: KafkaBroker = platform.kafka
        self.grants: list[str] = []
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                scheme, _, encoded = (self.headers.get("Authorization") or "").partition(" ")
                client, _, secret = base64.b64decode(encoded or "").decode().partition(":")
                known = broker.passwords().get(client)
                if (
                    scheme != "Basic"
                    or form.get("grant_type") != ["client_credentials"]
                    or known is None
                    or not secrets.compare_digest(secret, known)
                ):
                    self.send_response(401)
                    self.end_headers()
                    return
                provider.grants.append(client)
                body = json.dumps(
                    {"access_token": broker.oauth_token(client), "expires_in": 300}
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def env(self, platform: Platform, client: str, secret: str) -> dict[str, str]:
        assert platform.kafka is not None and platform.kafka.ca is not None
        return {
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_MECHANISM": "OAUTHBEARER",
            "KAFKA_SSL_CA_FILE": str(platform.kafka.ca.cert),
            "KAFKA_OAUTH_TOKEN_URL": self.url,
            "KAFKA_OAUTH_CLIENT_ID": client,
            "KAFKA_OAUTH_CLIENT_SECRET": secret,
            "KAFKA_OAUTH_SCOPE": "kafka",
        }

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def idp(platform: Platform) -> Iterator[_IdentityProvider]:
    _secured(platform)
    provider = _IdentityProvider(platform)
    yield provider
    provider.close()


def test_oauthbearer_tokens_from_the_identity_provider_connect_as_the_principal_they_name(
    platform: Platform, idp: _IdentityProvider
) -> None:
    """The client-credentials grant (messaging.security.ClientCredentialsTokens) against the
    broker's OAUTHBEARER listener: the token's ``sub`` is the principal, and its ACLs hold
    (pricing may not write payment commands, however it authenticated)."""
    password = platform.kafka.passwords()["pricing"]  # type: ignore[union-attr]
    security = KafkaSecurity.from_env(idp.env(platform, "pricing", password))
    assert security.mechanism == "OAUTHBEARER"
    asyncio.run(_peek(platform, security, PRICING_COMMANDS.name, for_s=1.0))  # let in: it reads
    assert idp.grants and set(idp.grants) == {"pricing"}
    refused = _refused(
        _produce(platform, security, PAYMENT_COMMANDS.name),
        TopicAuthorizationFailedError,
        KafkaError,
    )
    assert isinstance(refused, TopicAuthorizationFailedError), refused


def test_a_token_the_identity_provider_did_not_sign_is_refused(platform: Platform) -> None:
    """A token for the admin, a super user, made with another key: the broker checks the
    signature against the provider's JWKS, not only the claims."""
    _secured(platform)
    broker = platform.kafka
    assert broker is not None and broker.ca is not None
    forged = broker.oauth_token(ADMIN, key=rsa.generate_private_key(65537, 2048))

    class Forged(AbstractTokenProvider):
        async def token(self) -> str:
            return forged

    security = KafkaSecurity(protocol="SASL_SSL", ca_file=str(broker.ca.cert))
    kwargs = {
        **security.client_kwargs(),
        "sasl_mechanism": "OAUTHBEARER",
        "sasl_oauth_token_provider": Forged(),
    }

    async def list_topics() -> None:
        client = AIOKafkaAdminClient(
            bootstrap_servers=platform.bootstrap, request_timeout_ms=10_000, **kwargs
        )
        try:
            await asyncio.wait_for(client.start(), 20)
            await asyncio.wait_for(client.list_topics(), 20)
        finally:
            await client.close()

    _refused(list_topics(), KafkaError, TimeoutError, OSError)


def test_a_wrong_client_secret_gets_no_token_and_no_connection(
    platform: Platform, idp: _IdentityProvider
) -> None:
    security = KafkaSecurity.from_env(idp.env(platform, "pricing", "not-the-secret"))
    _refused(
        _peek(platform, security, PRICING_COMMANDS.name, for_s=1.0),
        KafkaSecurityError,
        KafkaError,
        TimeoutError,
    )
    assert idp.grants == []


def test_a_client_certificate_is_checked_when_one_is_presented(
    platform: Platform, tmp_path: Path
) -> None:
    """Mutual TLS beside SASL: a certificate of the platform's CA is accepted, one of another
    CA ends the handshake, whatever the password."""
    _secured(platform)
    broker = platform.kafka
    assert broker is not None and broker.ca is not None
    right = broker.security("pricing")
    ours = broker.ca.issue("pricing-client", client=True)
    with_cert = KafkaSecurity(
        **{**right.__dict__, "cert_file": str(ours.cert), "key_file": str(ours.key)}
    )
    asyncio.run(_peek(platform, with_cert, PRICING_COMMANDS.name, for_s=1.0))
    theirs = LocalCA(tmp_path / "other").ensure().issue("pricing-client", client=True)
    with_stranger = KafkaSecurity(
        **{**right.__dict__, "cert_file": str(theirs.cert), "key_file": str(theirs.key)}
    )
    _refused(
        _peek(platform, with_stranger, PRICING_COMMANDS.name, for_s=1.0),
        KafkaError,
        TimeoutError,
        OSError,
    )
