"""A Hypothesis rule-based state machine driving the gateway API of the running platform.

Each example gets a fresh one-unit lodge and a few dates to fight over. The rules create
bookings (card, declined card, bank transfer), cancel them, check them in, complete them, try a
no-show, verify transfers (before and after their deadline), modify dates (with a current or a
stale ``If-Match``) and let unpaid bookings expire. Each rule checks the answer the API gives
against the status machine; after every step, once the sagas it started are over, the
platform's invariants are checked for the bookings made so far: no illegal status or transition,
the status history and the status events agree one for one, and no booking is confirmed without
its confirmed capacity and its captured (or verified) payment. At the end, the events consumers
actually receive on Kafka are compared with every booking's history.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from hypothesis import HealthCheck, assume, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from booking.domain.booking import ALLOWED, BookingStatus
from contracts.topics import BOOKING_EVENTS
from devstack.client import PlatformClient, booking_body
from devstack.platform import Platform
from messaging.envelope import Envelope
from tests.e2e.test_booking_lifecycle import a_resource, far, until
from tests.support import invariants
from tests.support.db import fetch, scalar

pytestmark = pytest.mark.e2e

CARD, DECLINED, TRANSFER = "pm_card_visa", "pm_card_declined", "bank_transfer"
UNPAID = ("pending", "awaiting_payment")
WAIT_S = 20


@dataclass
class Tracked:
    id: str
    method: str
    verified: bool = False


def allowed(status: str) -> list[str]:
    return sorted(ALLOWED[BookingStatus(status)])


def machine(platform: Platform, client: PlatformClient, made: list[str]) -> type:
    booking_db = platform.database_urls["booking"]
    api = f"{client.urls['booking']}/api/v1/bookings"

    def get(booking_id: str) -> httpx.Response:
        return client.http.get(f"{api}/{booking_id}")

    def post(booking_id: str, action: str, **kw: Any) -> httpx.Response:
        return client.http.post(f"{api}/{booking_id}/{action}", **kw)

    class Lifecycle(RuleBasedStateMachine):
        bookings = Bundle("bookings")

        def __init__(self) -> None:
            super().__init__()
            self.tracked: dict[str, Tracked] = {}
            self.ended: dict[str, str] = {}  # a booking seen in a final status stays there
            self.resource = ""
            self.first = date.min

        @initialize()
        def a_lodge(self) -> None:
            self.resource = a_resource(client, capacity=1)
            self.first = far(200)

        # -- helpers -------------------------------------------------------------------------

        def status(self, booking_id: str) -> str:
            return str(get(booking_id).json()["status"])

        def taken(self, start: date, end: date, mine: str | None = None) -> bool:
            """Whether another booking holds any of these nights (``mine`` is not counted)."""
            own: set[date] = set()
            if mine:
                b = get(mine).json()
                if b["status"] in invariants.KEEPS_CAPACITY:
                    first, last = (
                        date.fromisoformat(b["check_in"]),
                        date.fromisoformat(b["check_out"]),
                    )
                    own = {first + timedelta(i) for i in range((last - first).days)}
            nights = client.availability(self.resource, start, end)
            return any(
                n["reserved"] - (date.fromisoformat(n["night"]) in own) >= n["capacity"]
                for n in nights
            )

        def racing(self) -> bool:
            """An unpaid booking may expire on its own at any moment, freeing its nights."""
            return any(self.status(b) in UNPAID for b in self.tracked)

        def refused(self, r: httpx.Response, wanted: str, before: str) -> None:
            """A 409 for a transition the status machine forbids, naming what it allows."""
            assert r.status_code == 409, r.text
            problem = r.json()
            if problem["type"].endswith("illegal-transition"):
                current = problem["current_status"]
                assert wanted not in allowed(current), problem
                assert problem["allowed"] == allowed(current), problem
                # Only the platform's own expiry can have moved it since we looked.
                assert current == before or (before in UNPAID and current == "expired"), problem

        def transition(self, b: Tracked, action: str, wanted: str) -> None:
            before = self.status(b.id)
            r = post(b.id, action, json={"reason": "state machine"})
            if r.status_code == 200:
                assert wanted in allowed(before) or before in UNPAID, (before, wanted)
                assert r.json()["status"] == wanted, r.text
            else:
                assert wanted not in allowed(before) or before in UNPAID, (before, r.text)
                self.refused(r, wanted, before)

        # -- rules ---------------------------------------------------------------------------

        @rule(
            target=bookings,
            day=st.integers(0, 3),
            nights=st.integers(1, 2),
            method=st.sampled_from([CARD, CARD, TRANSFER, DECLINED]),
        )
        def create(self, day: int, nights: int, method: str) -> Tracked:
            start = self.first + timedelta(day)
            full, racing = self.taken(start, start + timedelta(nights)), self.racing()
            body = booking_body(self.resource, start, nights=nights, pm=method, n=len(self.tracked))
            r = client.book(body, wait=WAIT_S)
            assert r.status_code in (201, 202), r.text
            b = Tracked(r.json()["id"], method)
            self.tracked[b.id] = b
            made.append(b.id)
            settle(booking_db, list(self.tracked))
            got = get(b.id).json()
            if not racing:
                if full:
                    assert (got["status"], got["reason"]) == ("rejected", "capacity_unavailable")
                else:
                    expected = {CARD: "confirmed", TRANSFER: "awaiting_payment"}
                    assert got["status"] == expected.get(method, "rejected"), got
            return b

        @rule(b=bookings)
        def cancel(self, b: Tracked) -> None:
            before = self.status(b.id)
            self.transition(b, "cancel", "cancelled")
            settle(booking_db, list(self.tracked))
            if "cancelled" in allowed(before):
                assert self.status(b.id) in ("cancelled", "refunded", "expired")

        @rule(b=bookings)
        def check_in(self, b: Tracked) -> None:
            self.transition(b, "check-in", "checked_in")

        @rule(b=bookings)
        def complete(self, b: Tracked) -> None:
            self.transition(b, "complete", "completed")

        @rule(b=bookings)
        def no_show(self, b: Tracked) -> None:
            """Every booking here starts months from now: a no-show is always refused."""
            before = self.status(b.id)
            r = post(b.id, "no-show", json={})
            assert r.status_code == 409, r.text
            if before == "confirmed":
                assert r.json()["type"].endswith("not-started"), r.text
            else:
                self.refused(r, "no_show", before)

        @rule(b=bookings)
        def verify_payment(self, b: Tracked) -> None:
            before = self.status(b.id)
            # A transfer is verified once; a second look at a refunded one changes nothing.
            assume(not (b.verified and before == "expired"))
            # Whether a late payment can have its nights back (only asked of an expired booking).
            free = before == "expired" and not self.taken(*self.dates(b))
            runs = sagas_of(booking_db, b.id)
            r = post(b.id, "verify-payment")
            if b.method != TRANSFER or before not in ("awaiting_payment", "expired"):
                assert r.status_code == 409, r.text
                return
            assert r.status_code == 202, r.text
            b.verified = True
            if before == "awaiting_payment":
                # The waiting create saga confirms it, unless its deadline passed just then and
                # this became a late payment.
                assert until(lambda: self.status(b.id) != "awaiting_payment", timeout=30)
            else:  # a late payment: a saga of its own reinstates or refunds
                assert until(lambda: sagas_of(booking_db, b.id) > runs, timeout=30)
            settle(booking_db, list(self.tracked))
            after = self.status(b.id)
            if before == "awaiting_payment":
                assert after in ("confirmed", "expired"), after
            elif free:
                assert after == "confirmed", "a late payment reinstates it: its nights are free"
            else:
                assert after == "expired", "a late payment for taken nights is refunded"

        @rule(b=bookings, day=st.integers(0, 3), nights=st.integers(1, 2), stale=st.booleans())
        def modify(self, b: Tracked, day: int, nights: int, stale: bool) -> None:
            assume(b.method == CARD)  # a dearer transfer would wait for a transfer nobody sends
            current = get(b.id)
            booking, version = current.json(), int(current.headers["ETag"].strip('"'))
            start = self.first + timedelta(day)
            end = start + timedelta(nights)
            full, racing = self.taken(start, end, mine=b.id), self.racing()
            r = post(
                b.id,
                "modify",
                json={"check_in": start.isoformat(), "check_out": end.isoformat()},
                headers={"If-Match": f'"{version + 1 if stale else version}"'},
            )
            if stale:
                assert r.status_code == 412, r.text
                assert get(b.id).json()["version"] == version
                return
            if booking["status"] != "confirmed":
                assert r.status_code == 409 and r.json()["type"].endswith("not-modifiable"), r.text
                return
            if (booking["check_in"], booking["check_out"]) == (start.isoformat(), end.isoformat()):
                assert r.status_code == 422, r.text
                return
            assert r.status_code == 202, r.text
            settle(booking_db, list(self.tracked))
            after = get(b.id).json()
            outcome = after["modification"]["status"]
            assert after["status"] == "confirmed", after
            if racing:
                assert outcome in ("applied", "failed"), after["modification"]
            elif full:
                assert outcome == "failed", after["modification"]
                assert (after["check_in"], after["check_out"]) == (
                    booking["check_in"],
                    booking["check_out"],
                )
            else:
                assert outcome == "applied", after["modification"]
                assert (after["check_in"], after["check_out"]) == (
                    start.isoformat(),
                    end.isoformat(),
                )

        @precondition(lambda self: any(b.method == TRANSFER for b in self.tracked.values()))
        @rule()
        def let_unpaid_transfers_expire(self) -> None:
            waiting = [b for b in self.tracked if self.status(b) == "awaiting_payment"]
            assume(waiting)
            deadline = time.monotonic() + 40
            while time.monotonic() < deadline and any(self.status(b) != "expired" for b in waiting):
                time.sleep(0.5)
            assert {self.status(b) for b in waiting} == {"expired"}

        def dates(self, b: Tracked) -> tuple[date, date]:
            got = get(b.id).json()
            return date.fromisoformat(got["check_in"]), date.fromisoformat(got["check_out"])

        # -- after every step ----------------------------------------------------------------

        @invariant()
        def platform_invariants_hold(self) -> None:
            if not self.tracked:
                return
            ids = list(self.tracked)
            settle(booking_db, ids)
            for booking_id in ids:
                got = get(booking_id).json()
                status = got["status"]
                assert status in set(BookingStatus), got
                if booking_id in self.ended:
                    assert status == self.ended[booking_id], "a final booking changed"
                elif not allowed(status) and status != "expired":  # expired may be reinstated
                    self.ended[booking_id] = status
                history = client.http.get(f"{api}/{booking_id}/history").json()
                invariants.history_is_legal(
                    [(h["from_status"], h["to_status"]) for h in history], status
                )
            invariants.events_match_history(platform.database_urls, ids)
            invariants.bookings_keep_what_they_claim(platform.database_urls, ids)
            invariants.refunds_add_up(platform.database_urls, ids)
            invariants.ledger_agrees(platform.database_urls, [self.resource])

    return Lifecycle


def settle(booking_db: str, ids: list[str], timeout: float = 60.0) -> None:
    """Wait until no saga of these bookings is running, except create sagas waiting for a
    transfer; a parked saga fails the test at once."""
    deadline = time.monotonic() + timeout
    while True:
        rows = fetch(
            booking_db,
            "SELECT b.id::text, b.status, s.saga_type, s.status AS saga_status "
            "FROM sagas s JOIN bookings b ON b.id = s.booking_id "
            "WHERE b.id = ANY($1::uuid[]) AND s.status IN ('running', 'compensating', 'parked')",
            ids,
        )
        assert not [r for r in rows if r["saga_status"] == "parked"], rows
        busy = [
            r
            for r in rows
            if not (r["saga_type"] == "create_booking" and r["status"] == "awaiting_payment")
        ]
        if not busy:
            return
        assert time.monotonic() < deadline, f"sagas still running: {busy}"
        time.sleep(0.1)


def sagas_of(booking_db: str, booking_id: str) -> int:
    return int(scalar(booking_db, "SELECT count(*) FROM sagas WHERE booking_id = $1", booking_id))


async def delivered(platform: Platform, ids: set[str], want: int) -> dict[str, list[str]]:
    """The status events each booking's consumers received, first delivery of each id only."""
    consumer = AIOKafkaConsumer(
        **platform.kafka_kwargs(), enable_auto_commit=False, fetch_max_wait_ms=50
    )
    await consumer.start()
    try:
        tps = [TopicPartition(BOOKING_EVENTS.name, p) for p in range(BOOKING_EVENTS.partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        seen: set[str] = set()
        found: dict[str, list[str]] = defaultdict(list)
        deadline = time.monotonic() + 60
        while sum(map(len, found.values())) < want and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for record in records:
                    key = (record.key or b"").decode()
                    if key not in ids:
                        continue  # another test's, a poison record among them
                    env = Envelope.from_record(record.key, record.value, list(record.headers))
                    if env.id in seen:
                        continue
                    seen.add(env.id)
                    if (status := invariants.status_event(env.type)) is not None:
                        found[key].append(status)
        return found
    finally:
        await consumer.stop()


def test_the_api_keeps_the_lifecycle_invariants_whatever_the_order_of_calls(
    platform: Platform, client: PlatformClient
) -> None:
    made: list[str] = []
    run_state_machine_as_test(
        machine(platform, client, made),
        settings=settings(
            max_examples=8,
            stateful_step_count=15,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        ),
    )
    assert made, "the machine made bookings"

    # What analytics consumers receive on Kafka: each booking's status events, once each, in
    # the order of its history.
    histories = {
        b: invariants.announced(
            [
                (h["from_status"], h["to_status"])
                for h in client.http.get(
                    f"{client.urls['booking']}/api/v1/bookings/{b}/history"
                ).json()
            ]
        )
        for b in made
    }
    want = sum(map(len, histories.values()))
    received = asyncio.run(delivered(platform, set(made), want))
    assert dict(received) == histories
