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

import asyncio
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import httpx
import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from messaging import tenancy
from service_kit.problems import Problem

log = logging.getLogger(__name__)


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


def _asymmetric_keys(jwks: Any, source: str) -> list[jwt.PyJWK]:
    """The signing keys of a JWKS. A symmetric key (``kty`` ``oct``) is refused: whoever can
    verify with it can also sign, so one leaked configuration would mint tokens."""
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise AuthNotConfigured(f"{source} is not a JSON Web Key Set")
    kinds = {k.get("kty") for k in jwks["keys"] if isinstance(k, dict)}
    if kinds - _ASYMMETRIC:
        raise AuthNotConfigured(
            f"{source} holds a key of type {sorted(str(k) for k in kinds - _ASYMMETRIC)}: "
            "only asymmetric signing keys (RSA, EC, OKP) are accepted"
        )
    try:
        keyset = jwt.PyJWKSet.from_dict(jwks)
    except jwt.PyJWTError as exc:
        raise AuthNotConfigured(f"{source} is not a usable JSON Web Key Set: {exc}") from None
    keys = [k for k in keyset.keys if (k.public_key_use or "sig") == "sig"]
    if not keys:
        raise AuthNotConfigured(f"{source} holds no signing key")
    return keys


class KeysUnavailable(Exception):
    """The identity provider's keys could not be fetched and none are known yet."""


class RemoteKeys:
    """An identity provider's JWKS fetched over HTTPS (``AUTH_JWKS_URL``), or found through
    OpenID Connect discovery (``AUTH_OIDC_DISCOVERY_URL``: its ``jwks_uri``). Cached; fetched
    again after ``refresh_s`` and when a token names a key id not in the cache (a rotation),
    at most once per ``min_refetch_s`` so unknown ids cannot make us hammer the provider. A
    fetch that fails keeps the keys already known."""

    def __init__(
        self,
        *,
        jwks_url: str | None = None,
        discovery_url: str | None = None,
        refresh_s: float = 600.0,
        min_refetch_s: float = 30.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        if not (jwks_url or discovery_url):
            raise AuthNotConfigured("a JWKS URL or an OIDC discovery URL is needed")
        self.jwks_url = jwks_url
        self.discovery_url = discovery_url
        self.refresh_s = refresh_s
        self.min_refetch_s = min_refetch_s
        self._http = http or httpx.AsyncClient(timeout=httpx.Timeout(5.0), follow_redirects=False)
        self._keys: list[jwt.PyJWK] = []
        self._fetched_at = -1e18
        self._tried_at = -1e18
        self._lock = asyncio.Lock()
        self.fetches = 0

    @property
    def keys(self) -> list[jwt.PyJWK]:
        return self._keys

    def _stale(self) -> bool:
        return time.monotonic() - self._fetched_at > self.refresh_s

    async def refresh(self, *, unknown_kid: bool = False) -> None:
        async with self._lock:
            now = time.monotonic()
            if now - self._tried_at < self.min_refetch_s:
                # Tried just now: whatever came of it stands (never hammer the provider).
                if not self._keys:
                    raise KeysUnavailable("the identity provider's keys are not known yet")
                return
            if self._keys and not unknown_kid and not self._stale():
                return
            self._tried_at = now
            self.fetches += 1
            try:
                url = self.jwks_url or await self._discover()
                response = await self._http.get(url, headers={"accept": "application/json"})
                response.raise_for_status()
                self._keys = _asymmetric_keys(response.json(), url)
                self._fetched_at = time.monotonic()
            except (httpx.HTTPError, ValueError, AuthNotConfigured) as exc:
                log.warning("the identity provider's keys could not be fetched: %s", exc)
                if not self._keys:
                    raise KeysUnavailable(str(exc)) from None

    async def _discover(self) -> str:
        assert self.discovery_url is not None
        response = await self._http.get(self.discovery_url)
        response.raise_for_status()
        uri = response.json().get("jwks_uri")
        if not isinstance(uri, str) or not uri.startswith(("https://", "http://")):
            raise ValueError("the discovery document names no jwks_uri")
        return uri


def _claim(claims: dict[str, Any], path: str) -> Any:
    """A claim by name, or a nested one by a dotted path (``realm_access.roles``)."""
    if path in claims:
        return claims[path]
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


class TokenVerifier:
    def __init__(
        self,
        jwks: dict[str, Any] | RemoteKeys,
        *,
        issuer: str,
        audience: str,
        leeway_s: float = 30,
        tenant_claim: str = "tenant",
        roles_claim: str = "roles",
        max_lifetime_s: float = 24 * 3600,
    ) -> None:
        self.remote = jwks if isinstance(jwks, RemoteKeys) else None
        self._static = [] if self.remote else _asymmetric_keys(jwks, "AUTH_JWKS")
        self.issuer = issuer
        self.audience = audience
        self.leeway_s = leeway_s
        self.tenant_claim = tenant_claim
        self.roles_claim = roles_claim
        self.max_lifetime_s = max_lifetime_s

    @classmethod
    def from_settings(cls, settings: Any) -> TokenVerifier:
        jwks_url = getattr(settings, "auth_jwks_url", None)
        discovery_url = getattr(settings, "auth_oidc_discovery_url", None)
        if jwks_url or discovery_url:
            remote = RemoteKeys(
                jwks_url=jwks_url,
                discovery_url=discovery_url,
                refresh_s=getattr(settings, "auth_jwks_refresh_s", 600.0),
            )
            return cls(remote, **cls._options(settings))
        raw: str | None = None
        if settings.auth_jwks is not None:
            raw = settings.auth_jwks.get_secret_value()
        elif settings.auth_jwks_file:
            raw = Path(settings.auth_jwks_file).read_text()
        elif getattr(settings, "auth_signing_cert", None):
            raw = json.dumps(jwks_of_certificate(settings.auth_signing_cert))
        if not raw:
            raise AuthNotConfigured(
                "set AUTH_JWKS_URL, AUTH_OIDC_DISCOVERY_URL, AUTH_JWKS, AUTH_JWKS_FILE or "
                "AUTH_SIGNING_CERT to the token signing keys"
            )
        try:
            jwks = json.loads(raw)
        except ValueError:
            raise AuthNotConfigured("AUTH_JWKS is not JSON") from None
        return cls(jwks, **cls._options(settings))

    @staticmethod
    def _options(settings: Any) -> dict[str, Any]:
        return {
            "issuer": settings.auth_issuer,
            "audience": settings.auth_audience,
            "leeway_s": settings.auth_leeway_s,
            "tenant_claim": getattr(settings, "auth_tenant_claim", "tenant"),
            "roles_claim": getattr(settings, "auth_roles_claim", "roles"),
            "max_lifetime_s": getattr(settings, "auth_max_token_lifetime_s", 24 * 3600),
        }

    @property
    def _keys(self) -> list[jwt.PyJWK]:
        return self.remote.keys if self.remote else self._static

    def _key_for(self, token: str) -> jwt.PyJWK | None:
        """The key the token names; None when it names one we do not know (yet)."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("the bearer token is malformed") from None
        kid = header.get("kid")
        keys = self._keys
        if kid is not None:
            return next((k for k in keys if k.key_id == kid), None)
        return keys[0] if len(keys) == 1 else None

    async def authenticate(self, token: str) -> Principal:
        """``verify``, fetching the identity provider's keys first when they are stale or the
        token names a key id not yet known (the provider rotated its keys)."""
        if self.remote is not None:
            await self.remote.refresh()
            if self._key_for(token) is None:
                await self.remote.refresh(unknown_kid=True)
        return self.verify(token)

    def verify(self, token: str) -> Principal:
        key = self._key_for(token)
        if key is None:
            raise InvalidToken("the bearer token is signed with an unknown key")
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
        issued = claims.get("iat") if isinstance(claims.get("iat"), int | float) else time.time()
        if claims["exp"] - issued > self.max_lifetime_s + self.leeway_s:
            raise InvalidToken(
                f"the bearer token lives longer than {self.max_lifetime_s:.0f} s "
                "(AUTH_MAX_TOKEN_LIFETIME_S)"
            )
        tenant = _claim(claims, self.tenant_claim)
        raw_roles = _claim(claims, self.roles_claim)
        if isinstance(raw_roles, str):
            raw_roles = raw_roles.split()  # a space-separated claim, like OAuth's scope
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
        principal = await verifier.authenticate(credentials.credentials)
    except InvalidToken as exc:
        raise _unauthorized(f"{str(exc).capitalize()}.") from None
    except KeysUnavailable:
        raise Problem(
            503,
            "identity-provider-unavailable",
            "Identity provider unavailable",
            "The token signing keys cannot be fetched; try again shortly.",
            headers={"Retry-After": "5"},
        ) from None
    # Row-level security: this request's queries see the token's tenant's rows only.
    tenancy.act_for(principal.tenant)
    return principal


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
