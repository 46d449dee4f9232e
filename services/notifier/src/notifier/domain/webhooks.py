"""Webhooks as the Standard Webhooks specification has them. Pure: no I/O.

* A secret is ``whsec_`` + base64 of 32 random bytes.
* Every attempt carries ``webhook-id`` (the same on every retry of one message),
  ``webhook-timestamp`` (integer seconds, fresh per attempt) and ``webhook-signature``:
  ``v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">``, one per valid secret, separated by
  spaces, so a receiver that has either secret during a rotation accepts the message.
* Only a 2xx answer delivers. 410 Gone disables the endpoint. Anything else (a redirect, a 4xx,
  a 5xx, no answer) is tried again on the schedule; a 429 or 5xx with ``Retry-After`` is not
  tried before that time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from datetime import datetime
from email.utils import parsedate_to_datetime

from notifier.domain.delivery import Outcome

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
SECRET_BYTES = 32


class InvalidSecret(ValueError):
    pass


def webhook_id(notification_id: str) -> str:
    """``webhook-id``: a notification's id, the same on every attempt and replay."""
    return "msg_" + uuid.UUID(notification_id).hex


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret; InvalidSecret for anything else."""
    if not secret.startswith(SECRET_PREFIX):
        raise InvalidSecret("a webhook secret starts with whsec_")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except ValueError:
        raise InvalidSecret("a webhook secret is whsec_ followed by base64") from None
    if not 24 <= len(key) <= 64:
        raise InvalidSecret("a webhook secret holds 24 to 64 bytes")
    return key


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(secrets_: list[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """``webhook-signature``: one ``v1,`` signature per secret (two during a rotation)."""
    return " ".join(signature(s, msg_id, timestamp, body) for s in secrets_)


def headers(secrets_: list[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(secrets_, msg_id, timestamp, body),
    }


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """``Retry-After`` in seconds from ``now``: delta-seconds or an HTTP-date; None if absent or
    unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


def http_outcome(status: int, retry_after: str | None, now: datetime, body: str) -> Outcome:
    """An HTTP answer to a webhook attempt. ``Retry-After`` counts only on 429 and 5xx."""
    wait = parse_retry_after(retry_after, now) if status == 429 or status >= 500 else None
    return Outcome(
        ok=200 <= status < 300,
        code=status,
        error=None if 200 <= status < 300 else f"HTTP {status}",
        gone=status == 410,
        retry_after_s=wait,
        response=body,
    )
