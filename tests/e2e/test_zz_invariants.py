"""Platform-wide invariants over everything the e2e suite did (this module runs last in e2e/).

No confirmed booking without capacity and payment; no double charge; no oversold night; every
saga terminal or visibly waiting; every state change legal and emitted exactly once.
"""

from __future__ import annotations

import time

import pytest

from devstack.platform import Platform
from tests.support import invariants
from tests.support.db import fetch, scalar

pytestmark = pytest.mark.e2e


def settle(platform: Platform, timeout: float = 60.0) -> None:
    """Wait until no saga is still running (the suite may have left some in flight)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        running = fetch(
            platform.database_urls["booking"],
            "SELECT count(*) AS n FROM sagas WHERE status IN ('running', 'compensating')",
        )
        if running[0]["n"] == 0:
            return
        time.sleep(0.5)


def test_invariants_hold_across_everything_the_suite_did(platform: Platform) -> None:
    settle(platform)
    urls = platform.database_urls
    assert scalar(urls["booking"], "SELECT count(*) FROM bookings"), "the suite created bookings"
    invariants.bookings_keep_what_they_claim(urls)
    invariants.refunds_add_up(urls)
    invariants.ledger_agrees(urls)
    invariants.events_match_history(urls)
