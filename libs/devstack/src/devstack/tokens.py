"""Development signing keys and tokens for a local platform.

The platform started by ``make run`` (or by the tests) generates one Ed25519 key pair in its
working directory (file mode 0600), hands only the public key to the services (``AUTH_JWKS``),
and mints tokens with the private one. Production deployments configure their identity
provider's public keys instead and never see a private key.
"""

from __future__ import annotations

import json
import os
import secrets
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from service_kit.auth import key_id

ISSUER = "booking-platform"
AUDIENCE = "booking-platform-api"
KEY_FILE = "dev-signing-key.pem"
DEFAULT_TENANT = "demo"


@dataclass(frozen=True)
class DevKeys:
    private_key: Ed25519PrivateKey
    kid: str

    @classmethod
    def load_or_create(cls, workdir: Path) -> DevKeys:
        path = workdir / KEY_FILE
        if not path.exists():
            key = Ed25519PrivateKey.generate()
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
        assert isinstance(loaded, Ed25519PrivateKey)
        raw = loaded.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return cls(loaded, kid=f"dev-{raw.hex()[:16]}")

    def jwks(self) -> str:
        """The public half, as the ``AUTH_JWKS`` the services verify with."""
        jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(self.private_key.public_key()))
        jwk.update({"kid": self.kid, "alg": "EdDSA", "use": "sig"})
        return json.dumps({"keys": [jwk]})

    def mint(
        self,
        *,
        tenant: str,
        roles: Iterable[str] = ("staff",),
        subject: str | None = None,
        ttl_s: int = 8 * 3600,
        **extra: Any,
    ) -> str:
        return sign_token(
            self.private_key,
            kid=self.kid,
            tenant=tenant,
            roles=roles,
            subject=subject,
            ttl_s=ttl_s,
            **extra,
        )


_ALGORITHM = {RSAPrivateKey: "RS256", Ed25519PrivateKey: "EdDSA"}


def sign_token(
    private_key: Any,
    *,
    tenant: str,
    roles: Iterable[str] = ("staff",),
    subject: str | None = None,
    ttl_s: int = 8 * 3600,
    kid: str | None = None,
    issuer: str = ISSUER,
    audience: str = AUDIENCE,
    **extra: Any,
) -> str:
    """A bearer token signed with an RSA, P-256 or Ed25519 private key; the key id defaults to
    the one services derive from the key's certificate (``AUTH_SIGNING_CERT``)."""
    if isinstance(private_key, EllipticCurvePrivateKey):
        algorithm = "ES256"
    else:
        found = [a for t, a in _ALGORITHM.items() if isinstance(private_key, t)]
        if not found:
            raise ValueError("the signing key must be RSA, EC (P-256) or Ed25519")
        algorithm = found[0]
    now = int(time.time())
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": subject or f"dev-{uuid.uuid4().hex[:8]}",
        "tenant": tenant,
        "roles": list(roles),
        "iat": now,
        "exp": now + ttl_s,
        **extra,
    }
    headers = {"kid": kid or key_id(private_key.public_key())}
    return jwt.encode(claims, private_key, algorithm=algorithm, headers=headers)


def local_secret(workdir: Path, name: str) -> str:
    """A random secret kept in the platform's working directory (0600), made on first use:
    the simulated provider's webhook secret of a local platform."""
    path = workdir / name
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(32))
    return path.read_text().strip()
