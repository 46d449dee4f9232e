"""Bearer JWT authentication: who is calling, for which tenant, in which role.

Every API request carries ``Authorization: Bearer <JWT>``. The token is verified against the
keys configured in ``AUTH_JWKS`` (a JSON Web Key Set, inline), ``AUTH_JWKS_FILE`` (a path) or
``AUTH_SIGNING_CERT`` (a PEM X.509 certificate of the signing key: what the Helm chart makes
when no identity provider is configured; ``bpctl token`` signs with its private key), with the
issuer ``AUTH_ISSUER`` and the audience ``AUTH_AUDIENCE``. Claims used:

* ``sub`` - the caller (a guest's id, a staff member's login);
* ``tenant`` - the tenant whose data the caller may see; everything else answers 404;
* ``roles`` - any of ``guest``, ``staff``, ``admin``;
* ``exp`` (required), ``iat``/``nbf`` (checked when present), ``iss``, ``aud``.

The algorithm is taken from the key, never from the token (no ``alg`` confusion, no ``none``).
Key ids (``kid``) select the key, so keys rotate by publishing the new one beside the old.
Failures answer 401 with ``WWW-Authenticate: Bearer`` and never echo the token.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from service_kit.problems import Problem


class Role(StrEnum):
    GUEST = "guest"
    STAFF = "staff"
    ADMIN = "admin"


@dataclass(frozen=True)
class Principal:
    subject: str
    tenant: str
    roles: frozenset[Role]

    @property
    def is_staff(self) -> bool:
        """Staff and admins act for the whole tenant; guests only for themselves."""
        return bool(self.roles & {Role.STAFF, Role.ADMIN})

    @property
    def is_admin(self) -> bool:
        """Money and trust: refunds, verifying a transfer, webhook endpoints, rate plans."""
        return Role.ADMIN in self.roles


class InvalidToken(Exception):
    """The token cannot be trusted; the message is safe to show (it never contains the token)."""


class AuthNotConfigured(ValueError):
    pass


_ASYMMETRIC = {"RSA", "EC", "OKP"}


def key_id(public_key: Any) -> str:
    """A stable key id for a public key: its SubjectPublicKeyInfo digest, shortened."""
    der = public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return "k-" + hashlib.sha256(der).hexdigest()[:16]


def jwks_of_public_key(public_key: Any) -> dict[str, Any]:
    if isinstance(public_key, rsa.RSAPublicKey):
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(public_key))
        jwk["alg"] = "RS256"
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(public_key))
        jwk["alg"] = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}[jwk["crv"]]
    elif isinstance(public_key, ed25519.Ed25519PublicKey):
        jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(public_key))
        jwk["alg"] = "EdDSA"
    else:
        raise AuthNotConfigured("the signing key must be RSA, EC or Ed25519")
    jwk.update({"kid": key_id(public_key), "use": "sig"})
    return {"keys": [jwk]}


def jwks_of_certificate(pem: str) -> dict[str, Any]:
    try:
        certificate = x509.load_pem_x509_certificate(pem.encode())
    except ValueError:
        raise AuthNotConfigured("AUTH_SIGNING_CERT is not a PEM certificate") from None
    return jwks_of_public_key(certificate.public_key())


class TokenVerifier:
    def __init__(
        self, jwks: dict[str, Any], *, issuer: str, audience: str, leeway_s: float = 30
    ) -> None:
        try:
            keyset = jwt.PyJWKSet.from_dict(jwks)
        except jwt.PyJWTError as exc:
            raise AuthNotConfigured(f"AUTH_JWKS is not a usable JSON Web Key Set: {exc}") from None
        self._keys = list(keyset.keys)
        if not self._keys:
            raise AuthNotConfigured("AUTH_JWKS holds no key")
        self._by_kid = {k.key_id: k for k in self._keys if k.key_id}
        self.issuer = issuer
        self.audience = audience
        self.leeway_s = leeway_s

    @classmethod
    def from_settings(cls, settings: Any) -> TokenVerifier:
        raw: str | None = None
        if settings.auth_jwks is not None:
            raw = settings.auth_jwks.get_secret_value()
        elif settings.auth_jwks_file:
            raw = Path(settings.auth_jwks_file).read_text()
        elif getattr(settings, "auth_signing_cert", None):
            raw = json.dumps(jwks_of_certificate(settings.auth_signing_cert))
        if not raw:
            raise AuthNotConfigured(
                "set AUTH_JWKS, AUTH_JWKS_FILE or AUTH_SIGNING_CERT to the token signing keys"
            )
        try:
            jwks = json.loads(raw)
        except ValueError:
            raise AuthNotConfigured("AUTH_JWKS is not JSON") from None
        return cls(
            jwks,
            issuer=settings.auth_issuer,
            audience=settings.auth_audience,
            leeway_s=settings.auth_leeway_s,
        )

    def _key_for(self, token: str) -> jwt.PyJWK:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("the bearer token is malformed") from None
        kid = header.get("kid")
        if kid is not None:
            key = self._by_kid.get(kid)
        elif len(self._keys) == 1:
            key = self._keys[0]
        else:
            key = None
        if key is None:
            raise InvalidToken("the bearer token is signed with an unknown key")
        return key

    def verify(self, token: str) -> Principal:
        key = self._key_for(token)
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[key.algorithm_name],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_s,
                options={"require": ["exp", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("the bearer token has expired") from None
        except jwt.PyJWTError:
            raise InvalidToken("the bearer token is not valid") from None
        tenant = claims.get("tenant")
        raw_roles = claims.get("roles")
        if not isinstance(tenant, str) or not tenant or not isinstance(raw_roles, list):
            raise InvalidToken("the bearer token names no tenant or roles")
        roles = frozenset(Role(r) for r in raw_roles if r in Role._value2member_map_)
        if not roles or not isinstance(claims["sub"], str) or not claims["sub"]:
            raise InvalidToken("the bearer token names no known role or no subject")
        return Principal(subject=claims["sub"], tenant=tenant, roles=roles)


_bearer = HTTPBearer(auto_error=False, bearerFormat="JWT", description="A JWT from AUTH_ISSUER")


def _unauthorized(detail: str) -> Problem:
    return Problem(
        401,
        "unauthorized",
        "Unauthorized",
        detail,
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


async def authenticated(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The verified caller; 401 without a valid bearer token."""
    if credentials is None:
        raise Problem(
            401,
            "unauthorized",
            "Unauthorized",
            "A bearer token is required.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    verifier: TokenVerifier = request.app.state.token_verifier
    try:
        return verifier.verify(credentials.credentials)
    except InvalidToken as exc:
        raise _unauthorized(f"{str(exc).capitalize()}.") from None


async def staff_only(principal: Annotated[Principal, Depends(authenticated)]) -> Principal:
    """Staff or admin of the token's tenant; a guest gets 403."""
    if not principal.is_staff:
        raise Problem(403, "forbidden", "Forbidden", "This operation needs the staff role.")
    return principal


async def admin_only(principal: Annotated[Principal, Depends(authenticated)]) -> Principal:
    """An admin of the token's tenant; staff and guests get 403."""
    if not principal.is_admin:
        raise Problem(403, "forbidden", "Forbidden", "This operation needs the admin role.")
    return principal


Caller = Annotated[Principal, Depends(authenticated)]
Staff = Annotated[Principal, Depends(staff_only)]
# Money and trust operations: refunds, verifying a transfer, webhook endpoints, rate plans.
Admin = Annotated[Principal, Depends(admin_only)]
# The raw bearer credentials, unverified, for a service that forwards the caller's token.
BearerToken = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
