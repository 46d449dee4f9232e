"""Webhook secrets sealed at rest: sealed and opened under rotating keys, legacy plaintext
read as it is, and a key dropped too early refused loudly."""

from __future__ import annotations

import pytest

from notifier.adapters.sealing import SealingKeyError, SecretBox, new_key

SECRET = "whsec_Zm9vYmFyYmF6cXV4cXV1eGZvb2JhcmJhenF1eA=="  # noqa: S105 - made up for the test


def test_a_sealed_secret_does_not_contain_the_secret_and_opens_again() -> None:
    box = SecretBox((new_key(),))
    sealed = box.seal(SECRET)
    assert sealed.startswith("sealed:") and SECRET not in sealed and SECRET[6:20] not in sealed
    assert box.open(sealed) == SECRET
    assert box.seal(SECRET) != sealed  # a fresh IV each time
    assert box.current(sealed)


def test_keys_rotate_by_putting_the_new_one_first() -> None:
    old, new = new_key(), new_key()
    before = SecretBox((old,)).seal(SECRET)
    rotating = SecretBox((new, old))
    assert rotating.open(before) == SECRET and not rotating.current(before)
    resealed = rotating.seal(rotating.open(before))
    assert rotating.current(resealed)
    assert SecretBox((new,)).open(resealed) == SECRET  # the old key may go now
    with pytest.raises(SealingKeyError, match="none of NOTIFIER_SECRETS_KEYS"):
        SecretBox((new,)).open(before)  # ... but not before the re-sealing ran


def test_a_secret_stored_before_sealing_is_read_as_it_is_and_counts_as_stale() -> None:
    box = SecretBox((new_key(),))
    assert box.open(SECRET) == SECRET and not box.current(SECRET)


@pytest.mark.parametrize("bad", ["", "short", "x" * 44, "not base64 !!"])
def test_a_malformed_key_is_refused(bad: str) -> None:
    with pytest.raises(SealingKeyError):
        SecretBox.of(bad)


def test_standard_base64_keys_are_accepted() -> None:
    import base64

    raw = bytes(range(256))[200:232]  # has bytes that encode to '+' and '/'
    standard = base64.b64encode(raw).decode()
    assert "+" in standard or "/" in standard
    box = SecretBox.of(standard)
    assert box.open(box.seal(SECRET)) == SECRET


def test_the_key_is_required_to_run_but_not_to_migrate(monkeypatch: pytest.MonkeyPatch) -> None:
    """The chart's migrate job gets only the database URL: its settings must load. The web and
    worker, which seal and open secrets, refuse to start without a key in production."""
    from notifier.settings import NotifierSettings

    for name in ("PLATFORM_PROFILE", "NOTIFIER_SECRETS_KEYS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NOTIFIER_DATABASE_URL", "postgresql://n@localhost/notifier")
    settings = NotifierSettings()  # type: ignore[call-arg]
    with pytest.raises(SealingKeyError, match="NOTIFIER_SECRETS_KEYS is required"):
        settings.secret_box  # noqa: B018
    monkeypatch.setenv("NOTIFIER_SECRETS_KEYS", new_key())
    box = NotifierSettings().secret_box  # type: ignore[call-arg]
    assert box.open(box.seal(SECRET)) == SECRET
