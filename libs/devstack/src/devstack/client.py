"""A small client of the platform's REST APIs, shared by the demo, the benchmark and the tests."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx

from devstack.kafka import REPO_ROOT
from devstack.platform import SERVICES
from devstack.tokens import DEFAULT_TENANT, KEY_FILE, DevKeys

TERMINAL = {"confirmed", "rejected", "expired", "cancelled", "refunded", "completed", "no_show"}


def discover_token(tenant: str = DEFAULT_TENANT, roles: tuple[str, ...] = ("admin",)) -> str:
    """``PLATFORM_TOKEN`` if set, else a token minted with the signing key of ``make run``."""
    if os.environ.get("PLATFORM_TOKEN"):
        return os.environ["PLATFORM_TOKEN"]
    workdir = REPO_ROOT / ".local" / "platform"
    if not (workdir / KEY_FILE).exists():
        raise RuntimeError("no running platform found: start one with `make run`")
    return DevKeys.load_or_create(workdir).mint(tenant=tenant, roles=roles)


def discover_urls(workdir: Path | None = None) -> dict[str, str]:
    """URLs of a running platform: ``<SERVICE>_URL`` variables, else the state file of
    ``make run`` (or of the platform in ``workdir``), else the documented default ports."""
    state_file = (workdir or REPO_ROOT / ".local" / "platform") / "state.json"
    urls = {s: f"http://127.0.0.1:{p}" for s, p in SERVICES.items()}
    if state_file.exists():
        urls.update(json.loads(state_file.read_text())["urls"])
    for service in SERVICES:
        override = os.environ.get(f"{service.upper()}_URL")
        if override:
            urls[service] = override.rstrip("/")
    return urls


def guest(n: int = 0) -> dict[str, str]:
    return {"name": f"Guest {n}", "email": f"guest{n}@example.com", "phone": "+351 912 345 678"}


def booking_body(
    resource_id: str, check_in: date, nights: int = 2, pm: str = "pm_card_visa", n: int = 0
) -> dict[str, Any]:
    return {
        "resource_id": resource_id,
        "check_in": check_in.isoformat(),
        "check_out": (check_in + timedelta(days=nights)).isoformat(),
        "party": {"adults": 2, "children": 0, "infants": 0},
        "guest": guest(n),
        "payment_method": pm,
    }


@dataclass
class PlatformClient:
    urls: dict[str, str]
    token: str | None = field(default=None, repr=False)  # never in a test report or log
    timeout: float = 10.0

    def __post_init__(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        self.http = httpx.Client(timeout=self.timeout, headers=headers)

    def close(self) -> None:
        self.http.close()

    def create_resource(self, name: str, capacity: int, timezone: str = "Europe/Lisbon") -> dict:
        r = self.http.post(
            f"{self.urls['inventory']}/api/v1/resources",
            json={
                "name": name,
                "booking_mode": "nightly",
                "capacity": capacity,
                "timezone": timezone,
            },
        )
        r.raise_for_status()
        return r.json()

    def create_rate_plan(
        self, resource_id: str, rate: str = "120.00", currency: str = "EUR"
    ) -> dict:
        r = self.http.post(
            f"{self.urls['pricing']}/api/v1/rate-plans",
            json={"resource_id": resource_id, "currency": currency, "base_price": rate},
        )
        r.raise_for_status()
        return r.json()

    def book(
        self, body: dict[str, Any], key: str | None = None, wait: int | None = None
    ) -> httpx.Response:
        headers = {}
        if key:
            headers["Idempotency-Key"] = key
        if wait:
            headers["Prefer"] = f"wait={wait}"
        return self.http.post(f"{self.urls['booking']}/api/v1/bookings", json=body, headers=headers)

    def booking(self, booking_id: str) -> dict:
        r = self.http.get(f"{self.urls['booking']}/api/v1/bookings/{booking_id}")
        r.raise_for_status()
        return r.json()

    def timeline(self, booking_id: str) -> dict:
        r = self.http.get(f"{self.urls['booking']}/api/v1/bookings/{booking_id}/timeline")
        r.raise_for_status()
        return r.json()

    def wait_terminal(self, booking_id: str, timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            current = self.booking(booking_id)
            if current["status"] in TERMINAL or time.monotonic() > deadline:
                return current
            time.sleep(0.1)

    def availability(self, resource_id: str, start: date, end: date) -> list[dict]:
        r = self.http.get(
            f"{self.urls['inventory']}/api/v1/resources/{resource_id}/availability",
            params={"start": start.isoformat(), "end": end.isoformat()},
        )
        r.raise_for_status()
        return r.json()
