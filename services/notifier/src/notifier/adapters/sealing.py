"""Webhook signing secrets are kept sealed at rest: encrypted with a key from the settings
(``NOTIFIER_SECRETS_KEYS``), so a copy of the database (a backup, a replica, a dump someone
was sent) does not let its holder sign webhooks in a tenant's name.

Fernet (AES-128-CBC with HMAC-SHA256, from ``cryptography``) under a list of keys: the first
seals, any opens, so keys rotate by putting the new one first; the notifier worker then
re-seals every stored secret under it (``reseal``) and the old key can be dropped once that
has run. A value without the ``sealed:`` prefix is a secret stored before sealing existed: it
is read as it is and sealed by the same job.
"""

from __future__ import annotations

import base64
import binascii
import logging

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

PREFIX = "sealed:"


class SealingKeyError(ValueError):
    pass


def new_key() -> str:
    return Fernet.generate_key().decode()


def _fernet(key: str) -> Fernet:
    raw = key.strip().replace("+", "-").replace("/", "_")  # standard base64 is accepted too
    try:
        if len(base64.urlsafe_b64decode(raw)) != 32:
            raise ValueError
        return Fernet(raw)
    except (ValueError, binascii.Error):
        raise SealingKeyError(
            "each NOTIFIER_SECRETS_KEYS key is 32 random bytes in base64 (Fernet.generate_key)"
        ) from None


class SecretBox:
    def __init__(self, keys: tuple[str, ...]) -> None:
        if not keys:
            raise SealingKeyError("NOTIFIER_SECRETS_KEYS names no key")
        self._box = MultiFernet([_fernet(k) for k in keys])
        self._current = _fernet(keys[0])

    @classmethod
    def of(cls, keys: str) -> SecretBox:
        return cls(tuple(k for k in keys.split(",") if k.strip()))

    def seal(self, secret: str) -> str:
        return PREFIX + self._box.encrypt(secret.encode()).decode()

    def open(self, stored: str) -> str:
        if not stored.startswith(PREFIX):
            return stored  # stored before sealing; ``reseal`` seals it
        try:
            return str(self._box.decrypt(stored[len(PREFIX) :].encode()).decode())
        except InvalidToken:
            raise SealingKeyError(
                "a stored webhook secret opens with none of NOTIFIER_SECRETS_KEYS (a key was "
                "dropped before the secrets were re-sealed under its successor)"
            ) from None

    def current(self, stored: str) -> bool:
        """Sealed under the first key (nothing to re-seal)."""
        if not stored.startswith(PREFIX):
            return False
        try:
            self._current.decrypt(stored[len(PREFIX) :].encode())
        except InvalidToken:
            return False
        return True


_STORED = """
SELECT id::text, secret, previous_secret FROM webhook_endpoints
WHERE id > CAST(:after AS uuid) ORDER BY id LIMIT :n
"""


async def reseal(engine: AsyncEngine, box: SecretBox, batch: int = 200) -> int:
    """Seal every stored secret under the current key (plaintext from before sealing, or
    sealed under an older key). Returns how many rows changed."""
    changed = 0
    after = "00000000-0000-0000-0000-000000000000"
    while True:
        async with engine.begin() as conn:
            rows = (await conn.execute(text(_STORED), {"after": after, "n": batch})).all()
            for row in rows:
                stale = [
                    col
                    for col, value in (
                        ("secret", row.secret),
                        ("previous_secret", row.previous_secret),
                    )
                    if value is not None and not box.current(value)
                ]
                if not stale:
                    continue
                sets = ", ".join(f"{col} = :{col}" for col in stale)
                await conn.execute(
                    text(f"UPDATE webhook_endpoints SET {sets} WHERE id = CAST(:id AS uuid)"),
                    {"id": row.id, **{c: box.seal(box.open(getattr(row, c))) for c in stale}},
                )
                changed += 1
        if len(rows) < batch:
            break
        after = rows[-1].id
    if changed:
        log.info("re-sealed the webhook secrets of %d endpoints under the current key", changed)
    return changed
