"""How every Kafka client of the platform authenticates and encrypts: one description, read
from the environment, turned into aiokafka's arguments and faust's credentials.

Every process (web, worker, relay, the topics job, ``bpctl``) reads the same variables, each pod
with its own values (its service's principal):

==============================  ===========================================================
``KAFKA_SECURITY_PROTOCOL``     ``PLAINTEXT`` (default), ``SSL``, ``SASL_PLAINTEXT``,
                                ``SASL_SSL``
``KAFKA_SASL_MECHANISM``        ``SCRAM-SHA-512`` (default), ``SCRAM-SHA-256``, ``PLAIN``,
                                ``OAUTHBEARER``
``KAFKA_SASL_USERNAME``,        the principal (SCRAM and PLAIN)
``KAFKA_SASL_PASSWORD``
``KAFKA_SSL_CA_FILE``           the CA that signed the brokers' certificates (default: the
                                system's CAs, as for MSK or Confluent Cloud)
``KAFKA_SSL_CERT_FILE``,        a client certificate (mutual TLS; with ``SSL`` its subject is
``KAFKA_SSL_KEY_FILE``          the principal)
``KAFKA_SSL_CHECK_HOSTNAME``    ``true`` (default): the broker's certificate must name it
``KAFKA_OAUTH_TOKEN_URL``,      OAUTHBEARER: the client-credentials grant of your identity
``KAFKA_OAUTH_CLIENT_ID``,      provider (the token is cached and fetched again before it
``KAFKA_OAUTH_CLIENT_SECRET``,  expires)
``KAFKA_OAUTH_SCOPE``
==============================  ===========================================================

A bad combination stops the process at start-up with a message naming the variable; the
password and the client secret are never in a message or a ``repr``.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiokafka.abc import AbstractTokenProvider

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN", "OAUTHBEARER")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class KafkaSecurityError(ValueError):
    """The Kafka security settings do not make sense together."""


class ClientCredentialsTokens(AbstractTokenProvider):
    """OAUTHBEARER tokens from an OAuth 2 client-credentials grant, reused until a minute
    before they expire (or for five minutes when the provider says nothing)."""

    def __init__(self, url: str, client_id: str, client_secret: str, scope: str | None) -> None:
        self._url = url
        self._form = {"grant_type": "client_credentials"}
        if scope:
            self._form["scope"] = scope
        self._auth = (client_id, client_secret)
        self._token: str | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"<ClientCredentialsTokens {self._url} client_id={self._auth[0]}>"

    async def token(self) -> str:
        async with self._lock:
            if self._token is None or time.monotonic() >= self._expires:
                async with httpx.AsyncClient(timeout=10) as http:
                    answer = await http.post(self._url, data=self._form, auth=self._auth)
                if answer.status_code != 200:
                    raise KafkaSecurityError(
                        f"the token endpoint answered {answer.status_code} to the "
                        "client-credentials grant"
                    )
                body = answer.json()
                lifetime = float(body.get("expires_in") or 300)
                self._token = str(body["access_token"])
                self._expires = time.monotonic() + max(5.0, lifetime - 60)
            return self._token


@dataclass(frozen=True)
class KafkaSecurity:
    protocol: str = "PLAINTEXT"
    mechanism: str = "SCRAM-SHA-512"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    check_hostname: bool = True
    oauth_token_url: str | None = None
    oauth_client_id: str | None = None
    oauth_client_secret: str | None = field(default=None, repr=False)
    oauth_scope: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> KafkaSecurity:
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(f"KAFKA_{name}", "").strip()
            return value or None

        hostname = (get("SSL_CHECK_HOSTNAME") or "true").lower()
        if hostname not in _TRUE | _FALSE:
            raise KafkaSecurityError("KAFKA_SSL_CHECK_HOSTNAME must be true or false")
        security = cls(
            protocol=(get("SECURITY_PROTOCOL") or "PLAINTEXT").upper(),
            mechanism=(get("SASL_MECHANISM") or "SCRAM-SHA-512").upper(),
            username=get("SASL_USERNAME"),
            password=env.get("KAFKA_SASL_PASSWORD") or None,
            ca_file=get("SSL_CA_FILE"),
            cert_file=get("SSL_CERT_FILE"),
            key_file=get("SSL_KEY_FILE"),
            check_hostname=hostname in _TRUE,
            oauth_token_url=get("OAUTH_TOKEN_URL"),
            oauth_client_id=get("OAUTH_CLIENT_ID"),
            oauth_client_secret=env.get("KAFKA_OAUTH_CLIENT_SECRET") or None,
            oauth_scope=get("OAUTH_SCOPE"),
        )
        security.validate()
        return security

    @property
    def sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    @property
    def tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    def validate(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise KafkaSecurityError(
                f"KAFKA_SECURITY_PROTOCOL must be one of {', '.join(PROTOCOLS)}"
            )
        if self.sasl and self.mechanism not in MECHANISMS:
            raise KafkaSecurityError(f"KAFKA_SASL_MECHANISM must be one of {', '.join(MECHANISMS)}")
        if self.sasl and self.mechanism == "OAUTHBEARER":
            if not (self.oauth_token_url and self.oauth_client_id and self.oauth_client_secret):
                raise KafkaSecurityError(
                    "OAUTHBEARER needs KAFKA_OAUTH_TOKEN_URL, KAFKA_OAUTH_CLIENT_ID and "
                    "KAFKA_OAUTH_CLIENT_SECRET"
                )
        elif self.sasl and not (self.username and self.password):
            raise KafkaSecurityError(
                f"{self.mechanism} needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"
            )
        if (self.cert_file is None) != (self.key_file is None):
            raise KafkaSecurityError("KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE go together")
        if not self.tls and (self.ca_file or self.cert_file):
            raise KafkaSecurityError(
                "KAFKA_SSL_* files are set but KAFKA_SECURITY_PROTOCOL has no TLS "
                "(SSL or SASL_SSL): refusing to send credentials in clear text by mistake"
            )
        for name, path in (
            ("KAFKA_SSL_CA_FILE", self.ca_file),
            ("KAFKA_SSL_CERT_FILE", self.cert_file),
            ("KAFKA_SSL_KEY_FILE", self.key_file),
        ):
            if path and not os.path.isfile(path):
                raise KafkaSecurityError(f"{name}: no such file {path}")

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        context = ssl.create_default_context(cafile=self.ca_file)
        context.check_hostname = self.check_hostname
        if self.cert_file and self.key_file:
            context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def token_provider(self) -> ClientCredentialsTokens | None:
        if not (self.sasl and self.mechanism == "OAUTHBEARER"):
            return None
        assert self.oauth_token_url and self.oauth_client_id and self.oauth_client_secret
        return ClientCredentialsTokens(
            self.oauth_token_url, self.oauth_client_id, self.oauth_client_secret, self.oauth_scope
        )

    def client_kwargs(self) -> dict[str, Any]:
        """For ``AIOKafkaProducer``, ``AIOKafkaConsumer`` and ``AIOKafkaAdminClient``."""
        kwargs: dict[str, Any] = {"security_protocol": self.protocol}
        if self.tls:
            kwargs["ssl_context"] = self.ssl_context()
        if self.sasl:
            kwargs["sasl_mechanism"] = self.mechanism
            if self.mechanism == "OAUTHBEARER":
                kwargs["sasl_oauth_token_provider"] = self.token_provider()
            else:
                kwargs["sasl_plain_username"] = self.username
                kwargs["sasl_plain_password"] = self.password
        return kwargs

    def faust_credentials(self) -> Any:
        """For ``faust.App(broker_credentials=...)``; None for plain text."""
        import faust

        context = self.ssl_context()
        if not self.sasl:
            return faust.SSLCredentials(context) if context is not None else None
        if self.mechanism == "OAUTHBEARER":
            credentials: Any = faust.OAuthCredentials(
                oauth_cb=self.token_provider(), ssl_context=context
            )
        else:
            credentials = faust.SASLCredentials(
                username=self.username,
                password=self.password,
                ssl_context=context,
                mechanism=self.mechanism,
            )
        return credentials


def client_kwargs() -> dict[str, Any]:
    """This process's security arguments for an aiokafka client (read from its environment
    each time: cheap, and a test may point its own process at another principal)."""
    return KafkaSecurity.from_env().client_kwargs()
