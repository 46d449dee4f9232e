"""``make chaos`` at the size CI affords: a few hundred bookings while the nemesis kills and
pauses processes and restarts Kafka and Postgres once each; nothing lost, duplicated, out of
order or stuck, and every invariant holds (the full size, 10,000 bookings, is run by hand)."""

from __future__ import annotations

import argparse
import asyncio

import pytest

from tests.support.chaos import chaos

pytestmark = pytest.mark.fault


def test_a_small_chaos_run_loses_duplicates_and_strands_nothing() -> None:
    args = argparse.Namespace(
        bookings=300, rate=8.0, every=5.0, settle=300.0, seed=7, keep=False, report=None
    )
    report = asyncio.run(chaos(args))
    assert report.get("error") is None, report.get("trace")
    faults = report["faults"]
    assert faults.get("kafka_restart") == 1 and faults.get("postgres_restart") == 1, faults
    assert faults.get("sigkill", 0) + faults.get("sigstop", 0) >= 3, faults
    assert report["stuck"] == 0, report["statuses"]
    assert report["invariants_failed"] == [], report["invariants_failed"]
    history = report["history"]
    assert (history["lost"], history["unapplied"]) == (0, 0), report["examples"]
    assert (history["out_of_order_keys"], history["duplicated"]) == (0, 0), report["examples"]
    assert report["ok"]
