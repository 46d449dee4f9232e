"""Bearer-token verification: what is trusted, and every way a token is refused."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from devstack.tokens import AUDIENCE, ISSUER, DevKeys
from service_kit.auth import (
    AuthNotConfigured,
    InvalidToken,
    KeysUnavailable,
    RemoteKeys,
    Role,
    TokenVerifier,
    key_id,
)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> DevKeys:
    return DevKeys.load_or_create(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="module")
def verifier(keys: DevKeys) -> TokenVerifier:
    return TokenVerifier(json.loads(keys.jwks()), issuer=ISSUER, audience=AUDIENCE, leeway_s=0)


def _claims(**over: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "ana",
        "tenant": "t1",
        "roles": ["guest"],
        "iat": now,
        # An hour: the parametrized cases are built when the tests are collected, which may be
        # minutes before they run in a full session.
        "exp": now + 3600,
    }
    claims.update(over)
    return {k: v for k, v in claims.items() if v is not None}


def _sign(keys: DevKeys, claims: dict[str, Any], **headers: Any) -> str:
    return jwt.encode(
        claims, keys.private_key, algorithm="EdDSA", headers={"kid": keys.kid, **headers}
    )


def test_a_valid_token_names_subject_tenant_and_roles(
    keys: DevKeys, verifier: TokenVerifier
) -> None:
    who = verifier.verify(keys.mint(tenant="t1", roles=["staff", "bogus"], subject="bo"))
    assert (who.subject, who.tenant, who.roles) == ("bo", "t1", frozenset({Role.STAFF}))
    assert who.is_staff
    assert not verifier.verify(_sign(keys, _claims())).is_staff


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        (_claims(exp=int(time.time()) - 5), "expired"),
        (_claims(aud="someone-else"), "not valid"),
        (_claims(iss="https://evil.example"), "not valid"),
        (_claims(exp=None), "not valid"),
        (_claims(sub=None), "not valid"),
        (_claims(tenant=None), "no tenant"),
        (_claims(tenant=""), "no tenant"),
        (_claims(roles=7), "no tenant or roles"),
        (_claims(roles=["root"]), "no known role"),
        (_claims(nbf=int(time.time()) + 600), "not valid"),
    ],
)
def test_tokens_with_bad_claims_are_refused(
    keys: DevKeys, verifier: TokenVerifier, claims: dict[str, Any], why: str
) -> None:
    with pytest.raises(InvalidToken, match=why):
        verifier.verify(_sign(keys, claims))


def test_a_token_signed_by_another_key_is_refused(verifier: TokenVerifier, tmp_path: Path) -> None:
    stranger = DevKeys.load_or_create(tmp_path)
    with pytest.raises(InvalidToken, match="unknown key"):
        verifier.verify(stranger.mint(tenant="t1"))
    # Same kid, other key: the signature does not verify.
    forged = jwt.encode(
        _claims(),
        Ed25519PrivateKey.generate(),
        algorithm="EdDSA",
        headers={"kid": verifier._keys[0].key_id},
    )
    with pytest.raises(InvalidToken, match="not valid"):
        verifier.verify(forged)


def test_a_tampered_payload_is_refused(keys: DevKeys, verifier: TokenVerifier) -> None:
    header, _, signature = _sign(keys, _claims()).split(".")
    payload = base64.urlsafe_b64encode(json.dumps(_claims(tenant="t2")).encode()).rstrip(b"=")
    with pytest.raises(InvalidToken):
        verifier.verify(f"{header}.{payload.decode()}.{signature}")


def test_the_algorithm_comes_from_the_key_never_from_the_token(
    keys: DevKeys, verifier: TokenVerifier
) -> None:
    # alg=none, and HS256 "signed" with the public key bytes (the classic confusion attack).
    unsigned = jwt.encode(_claims(), None, algorithm="none", headers={"kid": keys.kid})
    with pytest.raises(InvalidToken):
        verifier.verify(unsigned)
    public_pem = keys.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = base64.urlsafe_b64encode(
        json.dumps({"alg": "HS256", "typ": "JWT", "kid": keys.kid}).encode()
    ).rstrip(b"=")
    body = base64.urlsafe_b64encode(json.dumps(_claims()).encode()).rstrip(b"=")
    import hashlib
    import hmac

    mac = hmac.new(public_pem, header + b"." + body, hashlib.sha256).digest()
    confused = b".".join([header, body, base64.urlsafe_b64encode(mac).rstrip(b"=")]).decode()
    with pytest.raises(InvalidToken):
        verifier.verify(confused)


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "Bearer x", "x" * 5000])
def test_garbage_is_refused_without_echoing_it(verifier: TokenVerifier, garbage: str) -> None:
    with pytest.raises(InvalidToken) as refused:
        verifier.verify(garbage)
    assert garbage not in str(refused.value) or not garbage


def test_keys_rotate_by_kid(keys: DevKeys, tmp_path: Path) -> None:
    new = DevKeys.load_or_create(tmp_path)
    both = {"keys": json.loads(keys.jwks())["keys"] + json.loads(new.jwks())["keys"]}
    v = TokenVerifier(both, issuer=ISSUER, audience=AUDIENCE)
    assert v.verify(keys.mint(tenant="t1")).tenant == "t1"
    assert v.verify(new.mint(tenant="t2")).tenant == "t2"


def test_a_service_without_keys_refuses_to_start() -> None:
    class Unset:
        auth_jwks = None
        auth_jwks_file = None

    with pytest.raises(AuthNotConfigured):
        TokenVerifier.from_settings(Unset())
    with pytest.raises(AuthNotConfigured):
        TokenVerifier({"keys": []}, issuer=ISSUER, audience=AUDIENCE)


def test_a_signing_certificate_stands_for_a_key_set(tmp_path: Path) -> None:
    """What the Helm chart makes without an identity provider: an RSA key whose certificate
    the services trust, and whose private half signs tokens (``bpctl token``)."""
    import datetime as dt
    from types import SimpleNamespace

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    from devstack.tokens import sign_token

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "booking-platform-token-signer")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    settings = SimpleNamespace(
        auth_jwks=None,
        auth_jwks_file=None,
        auth_signing_cert=cert.public_bytes(serialization.Encoding.PEM).decode(),
        auth_issuer=ISSUER,
        auth_audience=AUDIENCE,
        auth_leeway_s=0,
    )
    verifier = TokenVerifier.from_settings(settings)
    principal = verifier.verify(sign_token(key, tenant="t9", roles=("staff",), subject="ops"))
    assert (principal.tenant, principal.subject, principal.roles) == ("t9", "ops", {Role.STAFF})
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for kid in (None, key_id(key.public_key())):  # an unknown key, a forged key id
        with pytest.raises(InvalidToken):
            verifier.verify(sign_token(other, tenant="t9", kid=kid))
    with pytest.raises(AuthNotConfigured, match="not a PEM certificate"):
        TokenVerifier.from_settings(SimpleNamespace(**{**vars(settings), "auth_signing_cert": "x"}))


# -- identity providers ------------------------------------------------------------------------


def test_a_symmetric_key_in_the_jwks_is_refused_at_start_up(keys: DevKeys) -> None:
    shared = {"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0", "kid": "hs"}
    with pytest.raises(AuthNotConfigured, match="only asymmetric"):
        TokenVerifier({"keys": [shared]}, issuer=ISSUER, audience=AUDIENCE)
    mixed = {"keys": [*json.loads(keys.jwks())["keys"], shared]}
    with pytest.raises(AuthNotConfigured, match="oct"):
        TokenVerifier(mixed, issuer=ISSUER, audience=AUDIENCE)


def test_tenant_and_roles_claims_are_configurable_and_may_be_nested(keys: DevKeys) -> None:
    keycloak = TokenVerifier(
        json.loads(keys.jwks()),
        issuer=ISSUER,
        audience=AUDIENCE,
        tenant_claim="org_id",
        roles_claim="realm_access.roles",
    )
    token = _sign(
        keys,
        _claims(tenant=None, roles=None, org_id="acme", realm_access={"roles": ["admin", "x"]}),
    )
    who = keycloak.verify(token)
    assert (who.tenant, who.roles) == ("acme", frozenset({Role.ADMIN}))
    spaced = TokenVerifier(
        json.loads(keys.jwks()), issuer=ISSUER, audience=AUDIENCE, roles_claim="scope"
    )
    assert spaced.verify(_sign(keys, _claims(roles=None, scope="staff read"))).is_staff
    with pytest.raises(InvalidToken, match="no tenant or roles"):
        keycloak.verify(_sign(keys, _claims()))  # tenant and roles where the default puts them


def test_a_token_living_longer_than_the_maximum_is_refused(keys: DevKeys) -> None:
    short = TokenVerifier(
        json.loads(keys.jwks()), issuer=ISSUER, audience=AUDIENCE, max_lifetime_s=3600, leeway_s=0
    )
    now = int(time.time())
    assert short.verify(_sign(keys, _claims(iat=now, exp=now + 3600)))
    with pytest.raises(InvalidToken, match="lives longer"):
        short.verify(_sign(keys, _claims(iat=now, exp=now + 3601)))
    with pytest.raises(InvalidToken, match="lives longer"):  # no iat: counted from now
        short.verify(_sign(keys, _claims(iat=None, exp=now + 7200)))


class _Provider:
    """An identity provider over httpx's mock transport: a discovery document and a JWKS
    that can change (a rotation) or fail."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        self.jwks = jwks
        self.down = False
        self.calls: list[str] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request.url.path)
        if self.down:
            return httpx.Response(503)
        if request.url.path == "/.well-known/openid-configuration":
            return httpx.Response(200, json={"jwks_uri": "https://idp.test/keys"})
        return httpx.Response(200, json=self.jwks)


def _remote(provider: _Provider, **kw: Any) -> TokenVerifier:
    keys = RemoteKeys(
        discovery_url="https://idp.test/.well-known/openid-configuration",
        http=httpx.AsyncClient(transport=httpx.MockTransport(provider.handle)),
        **kw,
    )
    return TokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE)


async def test_keys_come_from_oidc_discovery_and_a_rotation_is_picked_up(
    keys: DevKeys, tmp_path: Path
) -> None:
    provider = _Provider(json.loads(keys.jwks()))
    verifier = _remote(provider, min_refetch_s=0)
    assert (await verifier.authenticate(keys.mint(tenant="t1"))).tenant == "t1"
    assert provider.calls == ["/.well-known/openid-configuration", "/keys"]
    # The provider rotates: a token with the new key id makes us fetch the keys again.
    rotated = DevKeys.load_or_create(tmp_path)
    provider.jwks = json.loads(rotated.jwks())
    assert (await verifier.authenticate(rotated.mint(tenant="t2"))).tenant == "t2"
    assert provider.calls.count("/keys") == 2
    # The old key is gone from the provider, and so from us.
    with pytest.raises(InvalidToken, match="unknown key"):
        await verifier.authenticate(keys.mint(tenant="t1"))


async def test_unknown_key_ids_refetch_at_most_once_per_interval(
    keys: DevKeys, tmp_path: Path
) -> None:
    provider = _Provider(json.loads(keys.jwks()))
    verifier = _remote(provider, min_refetch_s=60)
    await verifier.authenticate(keys.mint(tenant="t1"))
    stranger = DevKeys.load_or_create(tmp_path)
    for _ in range(20):
        with pytest.raises(InvalidToken, match="unknown key"):
            await verifier.authenticate(stranger.mint(tenant="t1"))
    assert provider.calls.count("/keys") == 1


async def test_a_provider_that_is_down_keeps_the_known_keys_or_answers_unavailable(
    keys: DevKeys,
) -> None:
    provider = _Provider(json.loads(keys.jwks()))
    verifier = _remote(provider, refresh_s=0, min_refetch_s=0)
    await verifier.authenticate(keys.mint(tenant="t1"))
    provider.down = True
    assert (await verifier.authenticate(keys.mint(tenant="t1"))).tenant == "t1"  # cached keys
    cold = _remote(provider)
    with pytest.raises(KeysUnavailable):
        await cold.authenticate(keys.mint(tenant="t1"))


async def test_a_provider_that_is_down_is_not_asked_more_than_once_per_interval(
    keys: DevKeys,
) -> None:
    provider = _Provider(json.loads(keys.jwks()))
    provider.down = True
    cold = _remote(provider, min_refetch_s=60)
    for _ in range(10):
        with pytest.raises(KeysUnavailable):
            await cold.authenticate(keys.mint(tenant="t1"))
    assert len(provider.calls) == 1
    provider.down = False
    warm = _remote(provider, refresh_s=30, min_refetch_s=60)
    await warm.authenticate(keys.mint(tenant="t1"))
    provider.down = True
    warm.remote._fetched_at -= 3600  # type: ignore[union-attr]  # stale: due for a refresh
    for _ in range(10):
        assert (await warm.authenticate(keys.mint(tenant="t1"))).tenant == "t1"
    assert len(provider.calls) == 1 + 2  # the cold try, the warm fetch (discovery + keys)
