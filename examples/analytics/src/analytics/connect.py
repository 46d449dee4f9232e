"""How this consumer reaches the cluster: the bootstrap servers and, for a secured cluster,
TLS and SASL from the same variables the platform reads (``KAFKA_SECURITY_PROTOCOL``,
``KAFKA_SASL_MECHANISM``, ``KAFKA_SASL_USERNAME``, ``KAFKA_SASL_PASSWORD``,
``KAFKA_SSL_CA_FILE``). A downstream consumer has its own principal, allowed to read
``booking.events`` with its own consumer groups and nothing else."""

from __future__ import annotations

import os
import ssl
from typing import Any

import faust

BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
PROTOCOL = os.environ.get("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT").upper()
MECHANISM = os.environ.get("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512").upper()


def _tls() -> ssl.SSLContext | None:
    if PROTOCOL not in ("SSL", "SASL_SSL"):
        return None
    return ssl.create_default_context(cafile=os.environ.get("KAFKA_SSL_CA_FILE") or None)


def _user() -> tuple[str, str]:
    return os.environ["KAFKA_SASL_USERNAME"], os.environ["KAFKA_SASL_PASSWORD"]


def aiokafka_kwargs() -> dict[str, Any]:
    kwargs: dict[str, Any] = {"bootstrap_servers": BOOTSTRAP, "security_protocol": PROTOCOL}
    if (context := _tls()) is not None:
        kwargs["ssl_context"] = context
    if PROTOCOL.startswith("SASL_"):
        username, password = _user()
        kwargs |= {
            "sasl_mechanism": MECHANISM,
            "sasl_plain_username": username,
            "sasl_plain_password": password,
        }
    return kwargs


def faust_credentials() -> Any:
    context = _tls()
    if PROTOCOL.startswith("SASL_"):
        username, password = _user()
        return faust.SASLCredentials(
            username=username, password=password, ssl_context=context, mechanism=MECHANISM
        )
    return faust.SSLCredentials(context) if context is not None else None
