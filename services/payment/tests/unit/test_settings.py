"""Test payment methods are for development only: off by default, and refused at start-up
under the production profile (the default)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from payment.settings import PaymentSettings

DB = "postgresql://payment@localhost/payment"


def _settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> PaymentSettings:
    for name in ("PLATFORM_PROFILE", "PAYMENT_TEST_METHODS_ENABLED"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PAYMENT_DATABASE_URL", DB)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return PaymentSettings()  # type: ignore[call-arg]


def test_test_methods_are_off_and_the_profile_is_production_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = _settings(monkeypatch)
    assert (settings.profile, settings.test_methods_enabled) == ("production", False)


def test_test_methods_are_refused_under_the_production_profile(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ValidationError, match="PLATFORM_PROFILE=production"):
        _settings(monkeypatch, PAYMENT_TEST_METHODS_ENABLED="true")
    with pytest.raises(ValidationError, match="PLATFORM_PROFILE=production"):
        _settings(monkeypatch, PAYMENT_TEST_METHODS_ENABLED="true", PLATFORM_PROFILE="production")
    allowed = _settings(
        monkeypatch, PAYMENT_TEST_METHODS_ENABLED="true", PLATFORM_PROFILE="development"
    )
    assert allowed.test_methods_enabled
