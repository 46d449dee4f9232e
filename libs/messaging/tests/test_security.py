"""Kafka security settings: every client's arguments from one set of variables, and a bad
combination refused at start-up with the variable named and no secret in the message."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import httpx
import pytest

from messaging.security import ClientCredentialsTokens, KafkaSecurity, KafkaSecurityError


def test_plain_text_by_default() -> None:
    s = KafkaSecurity.from_env({})
    assert s.client_kwargs() == {"security_protocol": "PLAINTEXT"}
    assert s.faust_credentials() is None


def test_scram_over_tls_with_a_ca(tmp_path: Path) -> None:
    from devstack.tls import LocalCA

    ca = LocalCA(tmp_path).ensure()
    s = KafkaSecurity.from_env(
        {
            "KAFKA_SECURITY_PROTOCOL": "sasl_ssl",
            "KAFKA_SASL_USERNAME": "booking",
            "KAFKA_SASL_PASSWORD": "pw",
            "KAFKA_SSL_CA_FILE": str(ca.cert),
        }
    )
    kwargs = s.client_kwargs()
    assert kwargs["security_protocol"] == "SASL_SSL"
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (kwargs["sasl_plain_username"], kwargs["sasl_plain_password"]) == ("booking", "pw")
    context = kwargs["ssl_context"]
    assert isinstance(context, ssl.SSLContext) and context.check_hostname
    assert context.verify_mode == ssl.CERT_REQUIRED
    credentials = s.faust_credentials()
    assert credentials.protocol.value == "SASL_SSL"
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert "pw" not in repr(s) and "pw" not in repr(credentials)


def test_a_client_certificate_for_mutual_tls(tmp_path: Path) -> None:
    from devstack.tls import LocalCA

    ca = LocalCA(tmp_path).ensure()
    issued = ca.issue("booking", client=True)
    s = KafkaSecurity.from_env(
        {
            "KAFKA_SECURITY_PROTOCOL": "SSL",
            "KAFKA_SSL_CA_FILE": str(ca.cert),
            "KAFKA_SSL_CERT_FILE": str(issued.cert),
            "KAFKA_SSL_KEY_FILE": str(issued.key),
        }
    )
    assert s.client_kwargs()["security_protocol"] == "SSL"
    assert s.faust_credentials().protocol.value == "SSL"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"KAFKA_SECURITY_PROTOCOL": "TLS"}, "KAFKA_SECURITY_PROTOCOL must be one of"),
        ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "needs KAFKA_SASL_USERNAME"),
        (
            {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "GSSAPI"},
            "KAFKA_SASL_MECHANISM must be one of",
        ),
        (
            {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "OAUTHBEARER"},
            "OAUTHBEARER needs KAFKA_OAUTH_TOKEN_URL",
        ),
        ({"KAFKA_SSL_CA_FILE": "/etc/hostname"}, "refusing to send credentials in clear text"),
        (
            {"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CA_FILE": "/nonexistent/ca.crt"},
            "KAFKA_SSL_CA_FILE: no such file",
        ),
        (
            {"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CERT_FILE": "/etc/hostname"},
            "go together",
        ),
        ({"KAFKA_SSL_CHECK_HOSTNAME": "maybe"}, "KAFKA_SSL_CHECK_HOSTNAME"),
    ],
)
def test_bad_combinations_are_refused_with_the_variable_named(
    env: dict[str, str], message: str
) -> None:
    env = {**env, "KAFKA_SASL_PASSWORD": "hunter2-secret"}
    with pytest.raises(KafkaSecurityError, match=message) as refused:
        KafkaSecurity.from_env(env)
    assert "hunter2-secret" not in str(refused.value)


def test_oauthbearer_tokens_come_from_the_client_credentials_grant_and_are_reused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json={"access_token": f"t{len(calls)}", "expires_in": 3600})

    real = httpx.AsyncClient

    def client(**kwargs: object) -> httpx.AsyncClient:
        return real(transport=httpx.MockTransport(answer), **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(httpx, "AsyncClient", client)
    s = KafkaSecurity.from_env(
        {
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_MECHANISM": "OAUTHBEARER",
            "KAFKA_OAUTH_TOKEN_URL": "https://idp.example.com/token",
            "KAFKA_OAUTH_CLIENT_ID": "booking",
            "KAFKA_OAUTH_CLIENT_SECRET": "cs",
            "KAFKA_OAUTH_SCOPE": "kafka",
        }
    )
    provider = s.client_kwargs()["sasl_oauth_token_provider"]
    assert isinstance(provider, ClientCredentialsTokens)

    async def twice() -> tuple[str, str]:
        return await provider.token(), await provider.token()

    assert asyncio.run(twice()) == ("t1", "t1")  # reused until shortly before it expires
    assert len(calls) == 1
    body = calls[0].content.decode()
    assert "grant_type=client_credentials" in body and "scope=kafka" in body
    assert calls[0].headers["authorization"].startswith("Basic ")
    assert "cs" not in repr(provider)
    assert s.faust_credentials().mechanism.value == "OAUTHBEARER"
