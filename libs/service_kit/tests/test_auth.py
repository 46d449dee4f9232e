"""Bearer-token verification: what is trusted, and every way a token is refused."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from devstack.tokens import AUDIENCE, ISSUER, DevKeys
from service_kit.auth import AuthNotConfigured, InvalidToken, Role, TokenVerifier, key_id


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
        (_claims(roles="staff"), "no tenant or roles"),
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
