"""The booking lifecycle through the gateway API, across all services as real processes over
real Kafka: awaiting payment and staff verification, expiry, late payments, cancellation with
the policy's refund, check-in and completion, illegal transitions, optimistic locking, and who
may see what."""

from __future__ import annotations

import concurrent.futures
import time
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from devstack.client import PlatformClient, booking_body
from devstack.platform import Platform
from tests.support.db import fetch, scalar

pytestmark = pytest.mark.e2e


def a_resource(client: PlatformClient, capacity: int = 1) -> str:
    resource = client.create_resource(f"Lodge {uuid.uuid4().hex[:6]}", capacity=capacity)
    client.create_rate_plan(resource["id"], "100.00", "EUR")
    return resource["id"]


def far(days: int) -> date:
    return date.today() + timedelta(days=days)


def until(probe: Callable[[], Any], timeout: float = 45.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def status_becomes(client: PlatformClient, booking_id: str, wanted: str) -> dict:
    until(lambda: client.booking(booking_id)["status"] == wanted)
    return client.booking(booking_id)


def events(platform: Platform, booking_id: str) -> list[str]:
    rows = fetch(
        platform.database_urls["booking"],
        "SELECT ce_type FROM outbox WHERE key = $1 AND topic = 'booking.events' ORDER BY id",
        booking_id,
    )
    return [r["ce_type"].removeprefix("booking.").removesuffix(".v1") for r in rows]


def history(client: PlatformClient, booking_id: str) -> list[tuple[str | None, str]]:
    rows = client.http.get(f"{client.urls['booking']}/api/v1/bookings/{booking_id}/history")
    return [(h["from_status"], h["to_status"]) for h in rows.json()]


def nights_taken(client: PlatformClient, resource_id: str, start: date, nights: int) -> list[int]:
    return [
        n["reserved"] for n in client.availability(resource_id, start, start + timedelta(nights))
    ]


def post(client: PlatformClient, path: str, **kw: Any) -> httpx.Response:
    return client.http.post(f"{client.urls['booking']}/api/v1/bookings/{path}", **kw)


def test_a_bank_transfer_awaits_payment_until_staff_verify_it(
    platform: Platform, client: PlatformClient
) -> None:
    rid = a_resource(client)
    start = far(40)
    created = client.book(booking_body(rid, start, nights=2, pm="bank_transfer"), wait=10)
    booking = created.json()
    assert created.status_code == 202 and booking["status"] == "awaiting_payment"
    assert booking["payment_deadline"] and "BT-" in booking["next_action"]
    assert booking["total"] == {"amount": "220.00", "currency": "EUR"}
    assert nights_taken(client, rid, start, 2) == [1, 1]  # held while the guest pays

    verified = post(client, f"{booking['id']}/verify-payment")
    assert verified.status_code == 202, verified.text
    done = status_becomes(client, booking["id"], "confirmed")
    assert done["payment_verified_by"] and done["payment_verified_at"]
    assert done["paid"] == {"amount": "220.00", "currency": "EUR"}
    assert history(client, booking["id"]) == [
        (None, "pending"),
        ("pending", "awaiting_payment"),
        ("awaiting_payment", "confirmed"),
    ]
    assert events(platform, booking["id"]) == ["created", "status_changed", "confirmed"]
    # Verifying again is refused: nothing waits for a payment any more.
    assert post(client, f"{booking['id']}/verify-payment").status_code == 409


def test_an_unpaid_booking_expires_and_a_late_transfer_reinstates_it(
    platform: Platform, client: PlatformClient
) -> None:
    rid = a_resource(client)
    start = far(45)
    booking = client.book(booking_body(rid, start, nights=2, pm="bank_transfer")).json()
    expired = status_becomes(client, booking["id"], "expired")  # deadline: 8 s in tests
    assert expired["reason"] == "payment_deadline_passed"
    assert nights_taken(client, rid, start, 2) == [0, 0]

    # The transfer arrives after all: the capacity is still free, so the booking comes back.
    assert post(client, f"{booking['id']}/verify-payment").status_code == 202
    back = status_becomes(client, booking["id"], "confirmed")
    assert back["paid"] == {"amount": "220.00", "currency": "EUR"}
    assert nights_taken(client, rid, start, 2) == [1, 1]
    assert history(client, booking["id"])[-2:] == [
        ("awaiting_payment", "expired"),
        ("expired", "confirmed"),
    ]
    assert events(platform, booking["id"])[-2:] == ["expired", "confirmed"]


def test_a_late_transfer_without_capacity_is_refunded_and_the_booking_stays_expired(
    platform: Platform, client: PlatformClient
) -> None:
    rid = a_resource(client)
    start = far(50)
    late = client.book(booking_body(rid, start, nights=2, pm="bank_transfer")).json()
    status_becomes(client, late["id"], "expired")
    taker = client.book(booking_body(rid, start, nights=2), wait=20).json()
    assert taker["status"] == "confirmed"

    assert post(client, f"{late['id']}/verify-payment").status_code == 202
    settled = until(lambda: client.booking(late["id"])["refunded"])
    assert settled == {"amount": "220.00", "currency": "EUR"}
    assert client.booking(late["id"])["status"] == "expired"
    refunds = fetch(
        platform.database_urls["payment"],
        "SELECT r.amount, r.reason FROM refunds r JOIN payments p ON p.id = r.payment_id "
        "WHERE p.booking_id = $1",
        late["id"],
    )
    assert [(str(r["amount"]), r["reason"]) for r in refunds] == [
        ("220.000000", "late_payment_no_capacity")
    ]
    assert nights_taken(client, rid, start, 2) == [1, 1]  # still the other guest's


def test_cancelling_a_confirmed_booking_refunds_what_the_policy_allows_and_frees_capacity(
    platform: Platform, client: PlatformClient
) -> None:
    rid = a_resource(client)
    start = far(60)
    booking = client.book(booking_body(rid, start, nights=2), wait=20).json()
    assert booking["status"] == "confirmed" and booking["policy"]

    cancelled = post(
        client,
        f"{booking['id']}/cancel",
        json={"reason": "plans changed"},
        headers={"Idempotency-Key": f"c-{uuid.uuid4()}"},
    )
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    refunded = status_becomes(client, booking["id"], "refunded")
    # 60 days ahead: the default policy refunds everything.
    assert refunded["refunded"] == {"amount": "220.00", "currency": "EUR"}
    assert refunded["cancel_reason"] == "plans changed"
    assert nights_taken(client, rid, start, 2) == [0, 0]
    assert events(platform, booking["id"]) == ["created", "confirmed", "cancelled", "refunded"]
    # Cancelled and refunded bookings are immutable.
    again = post(client, f"{booking['id']}/cancel")
    assert again.status_code == 409 and again.json()["allowed"] == []


def test_cancelling_while_awaiting_payment_gives_the_capacity_back_and_charges_nothing(
    platform: Platform, client: PlatformClient
) -> None:
    rid = a_resource(client)
    start = far(70)
    booking = client.book(booking_body(rid, start, nights=2, pm="bank_transfer"), wait=10).json()
    assert booking["status"] == "awaiting_payment"
    assert post(client, f"{booking['id']}/cancel").json()["status"] == "cancelled"
    until(lambda: nights_taken(client, rid, start, 2) == [0, 0])
    assert nights_taken(client, rid, start, 2) == [0, 0]
    payment = until(
        lambda: fetch(
            platform.database_urls["payment"],
            "SELECT status FROM payments WHERE booking_id = $1 AND status = 'canceled'",
            booking["id"],
        )
    )
    assert payment
    assert client.booking(booking["id"])["status"] == "cancelled"


def test_check_in_and_complete_and_the_status_machine_refuses_the_rest(
    client: PlatformClient,
) -> None:
    rid = a_resource(client)
    booking = client.book(booking_body(rid, far(80), nights=1), wait=20).json()
    assert booking["status"] == "confirmed"
    refused = post(client, f"{booking['id']}/complete")
    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["allowed"] == ["cancelled", "checked_in", "no_show"]
    early = post(client, f"{booking['id']}/no-show")
    assert early.status_code == 409 and early.json()["type"].endswith("/not-started")
    assert post(client, f"{booking['id']}/check-in").json()["status"] == "checked_in"
    assert post(client, f"{booking['id']}/complete").json()["status"] == "completed"
    current = client.http.get(f"{client.urls['booking']}/api/v1/bookings/{booking['id']}")
    patched = client.http.patch(
        f"{client.urls['booking']}/api/v1/bookings/{booking['id']}",
        json={"special_requests": "late checkout"},
        headers={"If-Match": current.headers["ETag"]},
    )
    assert patched.status_code == 409 and patched.json()["type"].endswith("/booking-immutable")


def test_updates_need_the_current_version_and_two_racing_updates_cannot_both_win(
    platform: Platform, client: PlatformClient
) -> None:
    rid = a_resource(client, capacity=2)
    booking = client.book(booking_body(rid, far(90), nights=1), wait=20).json()
    url = f"{client.urls['booking']}/api/v1/bookings/{booking['id']}"
    missing = client.http.patch(url, json={"dietary_notes": "vegan"})
    assert missing.status_code == 428
    stale = client.http.patch(url, json={"dietary_notes": "vegan"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412 and stale.json()["current_version"] == booking["version"]

    tag = client.http.get(url).headers["ETag"]

    def change(note: str) -> httpx.Response:
        with httpx.Client(headers=dict(client.http.headers), timeout=30) as http:
            return http.patch(url, json={"dietary_notes": note}, headers={"If-Match": tag})

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(change, ["vegan", "no nuts"]))
    assert sorted(a.status_code for a in answers) == [200, 412]
    winner = next(a for a in answers if a.status_code == 200).json()
    assert client.booking(booking["id"])["dietary_notes"] == winner["dietary_notes"]
    assert winner["version"] == booking["version"] + 1
    audit = client.http.get(f"{url}/audit").json()
    update = [e for e in audit if e["action"] == "update"]
    assert len(update) == 1
    assert update[0]["new"] == {
        "dietary_notes": winner["dietary_notes"],
        "version": winner["version"],
    }
    assert update[0]["old"]["dietary_notes"] is None and update[0]["ip"] == "127.0.0.1"
    assert events(platform, booking["id"])[-1] == "updated"


def test_no_one_sees_a_booking_they_may_not_and_cannot_tell_it_exists(
    platform: Platform, client: PlatformClient
) -> None:
    rid = a_resource(client)
    booking = client.book(booking_body(rid, far(100), nights=1), wait=20).json()
    base = f"{client.urls['booking']}/api/v1/bookings"
    missing_id = str(uuid.uuid4())

    def answer(token: str | None, path: str) -> tuple[int, str]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        r = httpx.get(f"{base}/{path}", headers=headers, timeout=10)
        return r.status_code, r.json().get("type", "")

    # No token, and a token signed by someone else: 401, never a hint about the booking.
    assert answer(None, booking["id"])[0] == 401
    forged = platform.token()[:-4] + "AAAA"
    assert answer(forged, booking["id"])[0] == 401
    # Another tenant's staff and another guest: exactly what an unknown id answers.
    other_tenant = platform.token(tenant="elsewhere")
    other_guest = platform.token(roles=("guest",), subject="guest-b")
    for token in (other_tenant, other_guest):
        assert answer(token, booking["id"]) == answer(token, missing_id)
        assert answer(token, booking["id"])[0] == 404
        assert answer(token, f"reference/{booking['reference']}")[0] == 404
    # A guest lists and reads only their own bookings.
    guest_a = platform.token(roles=("guest",), subject="guest-a")
    guest_client = PlatformClient(client.urls, token=guest_a)
    try:
        own = guest_client.book(booking_body(rid, far(110), nights=1), wait=20).json()
        assert own["guest_id"] == "guest-a"
        listed = guest_client.http.get(base).json()
        assert {b["guest_id"] for b in listed} == {"guest-a"}
        assert guest_client.http.get(f"{base}/{own['id']}").status_code == 200
        assert guest_client.http.get(f"{base}/{booking['id']}").status_code == 404
        # Staff actions are not a guest's.
        assert guest_client.http.post(f"{base}/{own['id']}/check-in").status_code == 403
    finally:
        guest_client.close()
    # A guest cannot cancel someone else's booking either, and it stays as it was.
    refused = httpx.post(
        f"{base}/{booking['id']}/cancel", headers={"Authorization": f"Bearer {other_guest}"}
    )
    assert refused.status_code == 404
    assert client.booking(booking["id"])["status"] == "confirmed"
    assert (
        scalar(
            platform.database_urls["booking"],
            "SELECT count(*) FROM booking_audit WHERE booking_id = $1 AND action LIKE 'status:%'",
            booking["id"],
        )
        == 1  # confirmed; nothing else happened
    )


def test_the_audit_records_the_client_behind_the_proxy_and_its_user_agent(
    client: PlatformClient,
) -> None:
    """The local platform trusts loopback as its ingress (TRUSTED_PROXIES): the audit entry
    records the address the proxy saw, never one the client wrote to the left of it, and the
    caller's user agent."""
    rid = a_resource(client)
    booking = client.book(booking_body(rid, far(120), nights=1), wait=20).json()
    url = f"{client.urls['booking']}/api/v1/bookings/{booking['id']}"
    tag = client.http.get(url).headers["ETag"]
    changed = client.http.patch(
        url,
        json={"dietary_notes": "vegetarian"},
        headers={
            "If-Match": tag,
            "X-Forwarded-For": "6.6.6.6, 198.51.100.7",
            "User-Agent": "front-desk/2.4 (audit test)",
        },
    )
    assert changed.status_code == 200, changed.text
    [update] = [e for e in client.http.get(f"{url}/audit").json() if e["action"] == "update"]
    assert (update["ip"], update["user_agent"]) == ("198.51.100.7", "front-desk/2.4 (audit test)")
