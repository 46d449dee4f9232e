"""Processes die at exact points (failpoints, ``messaging.failpoints``) and are started again:
each fault gives exactly one effect and loses nothing. No timing luck: the failpoint fires in
the process and at the moment named, and the test sees it fire."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest

from devstack.client import PlatformClient, booking_body
from devstack.platform import Platform
from devstack.procs import wait_for
from messaging import failpoints
from tests.support import invariants
from tests.support.db import fetch, scalar

pytestmark = pytest.mark.e2e


def arm(platform: Platform, point: str, match: str) -> Path:
    armed = Path(platform.config.service_env["FAILPOINTS_DIR"]) / point
    armed.write_text(f"exit match={match}")
    return armed


def died_at(platform: Platform, service: str, armed: Path, timeout: float = 60.0) -> None:
    """The armed point fired (its file is gone) and the process ended there, as under SIGKILL."""
    proc = platform.procs[(service, "worker")]
    wait_for(lambda: not armed.exists(), timeout, f"{armed.name} to fire in {service}")
    wait_for(lambda: not proc.alive(), 30, f"{service}-worker to end at {armed.name}")
    assert proc.popen.returncode == 137


def restart(platform: Platform, service: str, *, wait: bool = True) -> None:
    platform.start_service(service, "worker")
    if wait:
        platform.wait_ready()


def a_resource(client: PlatformClient, capacity: int = 1) -> dict:
    resource = client.create_resource(f"Cabin {uuid.uuid4().hex[:6]}", capacity=capacity)
    client.create_rate_plan(resource["id"], "80.00", "EUR")
    return resource


def commands(platform: Platform, booking_id: str) -> Counter:
    rows = fetch(
        platform.database_urls["booking"],
        "SELECT ce_type FROM outbox WHERE key = $1 AND topic LIKE '%.commands'",
        booking_id,
    )
    return Counter(r["ce_type"] for r in rows)


def test_a_participant_dying_after_its_commit_and_before_its_ack_applies_the_command_once(
    platform: Platform, client: PlatformClient
) -> None:
    """Inventory commits the reservation, then dies before Kafka hears of it: the command is
    delivered again after the restart and the inbox turns it into a duplicate."""
    resource = a_resource(client)
    start = date.today() + timedelta(days=500)
    body = booking_body(resource["id"], start, nights=1)
    armed = arm(platform, failpoints.CONSUMER_AFTER_COMMIT, "inventory-worker:inventory.commands:")
    booking = client.book(body, key=str(uuid.uuid4())).json()
    died_at(platform, "inventory", armed)
    restart(platform, "inventory")
    final = client.wait_terminal(booking["id"], timeout=90)
    assert final["status"] == "confirmed"
    inventory = platform.database_urls["inventory"]
    claims = fetch(
        inventory, "SELECT status FROM reservations WHERE booking_id = $1", booking["id"]
    )
    assert [c["status"] for c in claims] == ["confirmed"]
    nights = client.availability(resource["id"], start, start + timedelta(days=1))
    assert [n["reserved"] for n in nights] == [1]
    assert commands(platform, booking["id"])["inventory.ReserveCapacity.v1"] == 1


def test_a_relay_dying_after_kafka_acknowledged_and_before_it_marked_sends_again_harmlessly(
    platform: Platform, client: PlatformClient
) -> None:
    """The booking relay publishes the new booking's rows and dies before marking them sent:
    the restarted relay publishes them again (same ids), consumers apply each once, the guest
    gets one email."""
    resource = a_resource(client)
    start = date.today() + timedelta(days=510)
    armed = arm(platform, failpoints.RELAY_AFTER_ACK, "booking")
    booking = client.book(booking_body(resource["id"], start, nights=1), key=str(uuid.uuid4()))
    booking_id = booking.json()["id"]
    died_at(platform, "booking", armed)
    restart(platform, "booking")
    assert client.wait_terminal(booking_id, timeout=90)["status"] == "confirmed"
    booking_db = platform.database_urls["booking"]
    unsent = scalar(
        booking_db, "SELECT count(*) FROM outbox WHERE key = $1 AND sent_at IS NULL", booking_id
    )
    assert unsent == 0
    nights = client.availability(resource["id"], start, start + timedelta(days=1))
    assert [n["reserved"] for n in nights] == [1]
    notifier = platform.database_urls["notifier"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        emails = fetch(
            notifier,
            "SELECT event_type, status FROM notifications WHERE booking_id = $1 "
            "AND channel = 'email'",
            booking_id,
        )
        if any(e["event_type"].startswith("booking.confirmed") for e in emails):
            break
        time.sleep(0.5)
    per_event = Counter(e["event_type"] for e in emails)
    assert per_event and all(n == 1 for n in per_event.values()), per_event


def test_an_expiry_sweep_and_a_provider_call_interrupted_before_their_commits_act_once(
    platform: Platform, client: PlatformClient
) -> None:
    """A card payment whose guest never completes 3-D Secure: the payment expiry cancels it and
    dies before committing, the restarted one cancels it (once) and calls the provider's void,
    and dies again before recording it; the next one voids again under the same key. One
    cancellation, one decline for the saga, one void at the provider (called twice), the
    booking expired once with its nights free."""
    resource = a_resource(client)
    start = date.today() + timedelta(days=520)
    body = booking_body(resource["id"], start, nights=2, pm="pm_card_requires_action")
    booking = client.book(body, key=str(uuid.uuid4()), wait=10).json()
    assert booking["status"] == "awaiting_payment"
    payment_db = platform.database_urls["payment"]
    payment_id = scalar(
        payment_db, "SELECT id::text FROM payments WHERE booking_id = $1", booking["id"]
    )
    armed = arm(platform, failpoints.SWEEPER_BEFORE_COMMIT, f"payment-expiry:{payment_id}")
    died_at(platform, "payment", armed)
    assert scalar(payment_db, "SELECT status FROM payments WHERE id = $1::uuid", payment_id) == (
        "requires_action"
    ), "the interrupted cancel left nothing behind"
    armed = arm(platform, failpoints.PROVIDER_AFTER_CALL, f"void:{booking['id']}")
    restart(platform, "payment", wait=False)  # it dies again as soon as its sweep runs
    died_at(platform, "payment", armed)
    row = fetch(
        payment_db, "SELECT status, void_pending FROM payments WHERE id = $1::uuid", payment_id
    )[0]
    assert (row["status"], row["void_pending"]) == ("canceled", True)
    restart(platform, "payment")
    final = client.wait_terminal(booking["id"], timeout=60)
    assert final["status"] == "expired"
    wait_for(
        lambda: (
            not scalar(
                payment_db, "SELECT void_pending FROM payments WHERE id = $1::uuid", payment_id
            )
        ),
        30,
        "the void to be recorded",
    )
    key = scalar(payment_db, "SELECT payment_key FROM payments WHERE id = $1::uuid", payment_id)
    ops = fetch(
        payment_db,
        "SELECT operation, count(*) AS n FROM simulated_provider.operations "
        "WHERE idempotency_key LIKE $1 GROUP BY operation",
        f"{key}:%",
    )
    assert {(o["operation"], o["n"]) for o in ops} == {("authorize", 1), ("void", 1)}
    calls = scalar(
        payment_db,
        "SELECT count(*) FROM provider_calls WHERE idempotency_key = $1",
        f"{key}:void",
    )
    assert calls == 2, "the void was called again after the crash, under the same key"
    declines = scalar(
        payment_db,
        "SELECT count(*) FROM outbox WHERE key = $1 AND ce_type = 'payment.PaymentDeclined.v1'",
        booking["id"],
    )
    assert declines == 1
    history = fetch(
        platform.database_urls["booking"],
        "SELECT to_status FROM booking_status_history WHERE booking_id = $1::uuid ORDER BY id",
        booking["id"],
    )
    assert [h["to_status"] for h in history] == ["pending", "awaiting_payment", "expired"]
    nights = client.availability(resource["id"], start, start + timedelta(days=2))
    assert [n["reserved"] for n in nights] == [0, 0]


def test_a_compensation_that_cannot_finish_parks_visibly_and_ends_when_answered_late(
    platform: Platform, client: PlatformClient
) -> None:
    """A guest cancels a booking awaiting a transfer while inventory's worker is down: the create
    saga's compensation (release the nights) is not consumed, waits (it is not sent again to a
    participant that has not read it) and parks at the step deadline. Once inventory is back it
    applies the release it had not read, and its answer resumes the parked saga, which
    finishes without an operator."""
    resource = a_resource(client)
    start = date.today() + timedelta(days=530)
    body = booking_body(resource["id"], start, nights=2, pm="bank_transfer")
    booking = client.book(body, wait=10).json()
    assert booking["status"] == "awaiting_payment"
    base = f"{client.urls['booking']}/api/v1/bookings/{booking['id']}"
    assert client.http.post(f"{base}/saga/retry").status_code == 409  # nothing parked

    platform.procs[("inventory", "worker")].kill()
    try:
        assert client.http.post(f"{base}/cancel").json()["status"] == "cancelled"

        def saga() -> dict:
            return client.timeline(booking["id"])["sagas"][0]

        deadline = time.monotonic() + 120  # the 45 s step deadline, and the scan
        while saga()["status"] != "parked" and time.monotonic() < deadline:
            time.sleep(1)
        parked = saga()
        assert (parked["status"], parked["current_step"]) == ("parked", "release_capacity")
        # Never resent while inventory had not consumed the first one.
        assert commands(platform, booking["id"])["inventory.ReleaseCapacity.v1"] == 1
    finally:
        restart(platform, "inventory")

    deadline = time.monotonic() + 60
    while saga()["status"] != "failed" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert saga()["status"] == "failed"  # compensated: everything given back
    assert client.booking(booking["id"])["status"] == "cancelled"
    nights = client.availability(resource["id"], start, start + timedelta(days=2))
    assert [n["reserved"] for n in nights] == [0, 0]
    audit = client.http.get(f"{base}/audit").json()
    assert [e["action"] for e in audit].count("saga_retry") == 0  # no operator was needed
    assert commands(platform, booking["id"])["inventory.ReleaseCapacity.v1"] == 1
    assert client.http.post(f"{base}/saga/retry").status_code == 409


def test_a_late_payment_while_the_saga_is_parked_is_kept_and_settled_when_it_ends(
    platform: Platform, client: PlatformClient
) -> None:
    """A transfer booking expires while inventory is down: its release cannot be consumed and
    the saga parks. Staff verify the transfer then (the money arrived late): the payment is
    recorded, not dead-lettered and not lost. Inventory returns and answers the release it had
    not read, the parked saga ends, and the late payment is settled: the nights are free
    again, so the booking is reinstated, with the money it keeps."""
    resource = a_resource(client)
    start = date.today() + timedelta(days=540)
    body = booking_body(resource["id"], start, nights=2, pm="bank_transfer")
    booking = client.book(body, wait=10).json()
    assert booking["status"] == "awaiting_payment"
    base = f"{client.urls['booking']}/api/v1/bookings/{booking['id']}"
    booking_db, payment_db = platform.database_urls["booking"], platform.database_urls["payment"]

    def saga() -> dict:
        return client.timeline(booking["id"])["sagas"][0]

    platform.procs[("inventory", "worker")].kill()
    try:
        wait_for(lambda: saga()["status"] == "parked", 120, "the release to park")
        payment_id = scalar(
            payment_db, "SELECT id::text FROM payments WHERE booking_id = $1", booking["id"]
        )
        verified = client.http.post(
            f"{client.urls['payment']}/api/v1/payments/{payment_id}/verify"
        ).json()
        assert (verified["status"], verified["late"]) == ("captured", True)
        wait_for(
            lambda: (
                scalar(
                    booking_db,
                    "SELECT count(*) FROM late_payments WHERE booking_id = $1::uuid "
                    "AND settled_at IS NULL",
                    booking["id"],
                )
                == 1
            ),
            30,
            "the late payment to be recorded",
        )
        assert saga()["status"] == "parked"
    finally:
        restart(platform, "inventory")
    final = client.wait_terminal(booking["id"], timeout=60)
    deadline = time.monotonic() + 60
    while final["status"] != "confirmed" and time.monotonic() < deadline:
        time.sleep(0.5)
        final = client.booking(booking["id"])
    assert final["status"] == "confirmed", final
    assert client.http.post(f"{base}/saga/retry").status_code == 409  # nothing left parked
    assert final["payment_id"] == payment_id
    history = fetch(
        booking_db,
        "SELECT to_status, reason FROM booking_status_history WHERE booking_id = $1::uuid "
        "ORDER BY id",
        booking["id"],
    )
    assert [h["to_status"] for h in history] == [
        "pending",
        "awaiting_payment",
        "expired",
        "confirmed",
    ]
    assert history[-1]["reason"] == "late_payment"
    assert (
        scalar(
            booking_db,
            "SELECT count(*) FROM late_payments WHERE booking_id = $1::uuid AND settled_at IS NULL",
            booking["id"],
        )
        == 0
    )
    nights = client.availability(resource["id"], start, start + timedelta(days=2))
    assert [n["reserved"] for n in nights] == [1, 1]
    urls = platform.database_urls
    invariants.bookings_keep_what_they_claim(urls, [booking["id"]])
    invariants.refunds_add_up(urls, [booking["id"]])


def test_a_saga_this_build_cannot_read_is_parked_and_every_other_timer_keeps_running(
    platform: Platform, client: PlatformClient
) -> None:
    """A due saga of a type this build does not know (written by a newer build during a
    rolling upgrade) makes its timer raise: it is parked with its error after three rounds, and
    meanwhile another booking's timer fires on time (the payment service, down, never answers
    its transfer: the booking's own deadline ends the wait)."""
    booking_db = platform.database_urls["booking"]
    resource = a_resource(client)
    start = date.today() + timedelta(days=560)
    stranger = client.book(booking_body(resource["id"], start, nights=1), key=str(uuid.uuid4()))
    stranger_id = stranger.json()["id"]
    assert client.wait_terminal(stranger_id)["status"] == "confirmed"
    other = a_resource(client)
    body = booking_body(other["id"], start, nights=1, pm="bank_transfer")
    waiting = client.book(body, key=str(uuid.uuid4()), wait=10).json()
    assert waiting["status"] == "awaiting_payment"
    platform.procs[("payment", "worker")].kill()  # its expiry will not answer for the transfer
    try:
        fetch(
            booking_db,
            "INSERT INTO sagas (id, booking_id, seq, saga_type, status, current_step, deadline, "
            "state) VALUES (gen_random_uuid(), $1::uuid, 99, 'from_the_future', 'running', "
            "'teleport', now() - interval '1 minute', jsonb_build_object('type', "
            "'from_the_future', 'status', 'running', 'current', 'teleport'))",
            stranger_id,
        )
        wait_for(
            lambda: (
                scalar(
                    booking_db,
                    "SELECT status FROM sagas WHERE booking_id = $1::uuid AND seq = 99",
                    stranger_id,
                )
                == "parked"
            ),
            60,
            "the unreadable saga to be parked",
        )
        why = scalar(
            booking_db,
            "SELECT state->>'failure_detail' FROM sagas WHERE booking_id = $1::uuid AND seq = 99",
            stranger_id,
        )
        assert "KeyError" in why

        def failure_reason() -> str | None:
            return scalar(
                booking_db,
                "SELECT state->>'failure_reason' FROM sagas WHERE booking_id = $1::uuid",
                waiting["id"],
            )

        # The payment deadline (8 s) and the step timeout (15 s) pass: the timer ends the wait.
        wait_for(
            lambda: failure_reason() == "payment_deadline_passed",
            60,
            "the other saga's timer to fire",
        )
    finally:
        restart(platform, "payment")
        fetch(
            booking_db,
            "DELETE FROM sagas WHERE booking_id = $1::uuid AND seq = 99",
            stranger_id,
        )
    assert client.wait_terminal(waiting["id"], timeout=90)["status"] == "expired"
