"""Platform-wide invariants over everything the e2e suite did (this module runs last in e2e/).

No confirmed booking without capacity and payment; no double charge; no oversold night; every
saga terminal or visibly waiting, none overdue; no expired, rejected or never-served cancelled
booking keeps money and no late payment stays unsettled; every state change legal and emitted
exactly once.
"""

from __future__ import annotations

import time

import pytest

from devstack.platform import Platform
from tests.support import invariants
from tests.support.db import fetch, scalar

pytestmark = pytest.mark.e2e


def settle(platform: Platform, timeout: float = 90.0) -> None:
    """Wait until no saga is still in flight (the suite may have left some): every one ends,
    parks or waits for a guest's payment; fails when some do not."""
    deadline = time.monotonic() + timeout
    in_flight: list = []
    while time.monotonic() < deadline:
        in_flight = fetch(
            platform.database_urls["booking"],
            "SELECT booking_id::text, saga_type, current_step FROM sagas "
            "WHERE status IN ('running', 'compensating') "
            "AND COALESCE((state->>'waiting')::boolean, false) = false",
        )
        if not in_flight:
            return
        time.sleep(0.5)
    pytest.fail(f"sagas still in flight after {timeout:.0f}s: {in_flight}")


def test_invariants_hold_across_everything_the_suite_did(platform: Platform) -> None:
    settle(platform)
    urls = platform.database_urls
    invariants.sagas_on_time(
        urls, step_timeout_s=float(platform.config.service_env["BOOKING_STEP_TIMEOUT_S"])
    )
    assert scalar(urls["booking"], "SELECT count(*) FROM bookings"), "the suite created bookings"
    invariants.bookings_keep_what_they_claim(urls)
    invariants.refunds_add_up(urls)
    invariants.ledger_agrees(urls)
    invariants.events_match_history(urls)
