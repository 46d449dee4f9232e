"""The notifier end to end: emails received by a real SMTP server on loopback (the platform's mail
sink), webhooks received by a real HTTP server the test runs, signatures checked with the
reference ``standardwebhooks`` library, the notifier killed and restarted mid-schedule.

Every test works in a tenant of its own, so its webhook endpoints see only its own bookings.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from email.message import EmailMessage
from typing import Any

import httpx
import icalendar
import pytest
from standardwebhooks.webhooks import Webhook

from contracts.topics import BOOKING_EVENTS
from devstack.client import PlatformClient, booking_body
from devstack.mailsink import messages
from devstack.platform import SERVICES, Platform
from tests.e2e.test_booking_lifecycle import until
from tests.support.db import scalar
from tests.support.kafka import records_of, republish, wait_consumed
from tests.support.receiver import Receiver, start_receiver

pytestmark = pytest.mark.e2e


@pytest.fixture
def tenant(platform: Platform) -> Iterator[PlatformClient]:
    """A staff client of a fresh tenant."""
    token = platform.token(tenant=f"n-{uuid.uuid4().hex[:10]}")
    c = PlatformClient({s: platform.url(s) for s in SERVICES}, token=token, timeout=30.0)
    yield c
    c.close()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = start_receiver()
    yield r
    r.close()


def notifier(c: PlatformClient, path: str) -> str:
    return f"{c.urls['notifier']}/api/v1/{path}"


def a_stay(c: PlatformClient, days_ahead: int, **guest: str) -> dict:
    resource = c.create_resource(f"Casa {uuid.uuid4().hex[:6]}", capacity=2)
    c.create_rate_plan(resource["id"], "100.00", "EUR")
    body = booking_body(resource["id"], date.today() + timedelta(days=days_ahead), nights=2)
    body["guest"] |= guest
    booking = c.book(body, wait=20).json()
    assert booking["status"] == "confirmed", booking
    return booking


def register(c: PlatformClient, url: str, **extra: Any) -> dict:
    r = c.http.post(notifier(c, "webhook-endpoints"), json={"url": url, **extra})
    assert r.status_code == 201, r.text
    return r.json()


def cancel(c: PlatformClient, booking_id: str) -> None:
    r = c.http.post(
        f"{c.urls['booking']}/api/v1/bookings/{booking_id}/cancel",
        json={"reason": "plans changed"},
    )
    assert r.status_code == 200, r.text


def mail_to(platform: Platform, address: str) -> list[EmailMessage]:
    return [m for m in messages(platform.maildir) if m["X-Envelope-To"] == address]


def calendar_of(msg: EmailMessage) -> icalendar.Calendar | None:
    for part in msg.walk():
        if part.get_content_type() == "text/calendar":
            return icalendar.Calendar.from_ical(part.get_content())
    return None


def notifications(
    c: PlatformClient, booking_id: str, channel: str | None = "webhook"
) -> list[dict]:
    params = {"booking_id": booking_id} | ({"channel": channel} if channel else {})
    r = c.http.get(notifier(c, "notifications"), params=params)
    assert r.status_code == 200, r.text
    return r.json()


def settled(
    c: PlatformClient, booking_id: str, count: int, channel: str | None = "webhook"
) -> list[dict]:
    """The booking's notifications (webhooks unless told) once ``count`` exist and none is
    pending."""

    def probe() -> list[dict] | None:
        found = notifications(c, booking_id, channel)
        done = len(found) >= count and all(n["status"] != "pending" for n in found)
        return found if done else None

    found = until(probe, timeout=60)
    assert found, notifications(c, booking_id, channel)
    return found


def verify(secret: str, received: Any) -> dict:
    """The reference library's verdict on a delivery (raises when the signature is wrong)."""
    return Webhook(secret).verify(received.body, received.headers)  # type: ignore[no-any-return]


# -- email ------------------------------------------------------------------------------------


def test_a_confirmed_booking_emails_the_guest_in_their_language_with_a_calendar_entry(
    platform: Platform, tenant: PlatformClient
) -> None:
    email = f"ana-{uuid.uuid4().hex[:8]}@example.com"
    booking = a_stay(tenant, 70, email=email, name="Ana Sousa", locale="pt-PT")

    [confirmed] = until(lambda: mail_to(platform, email), timeout=30)
    assert confirmed["Subject"] == f"A sua reserva {booking['reference']} está confirmada"
    assert confirmed["To"] == f"Ana Sousa <{email}>"
    assert confirmed["Content-Language"] == "pt"
    text = confirmed.get_body(("plain",)).get_content()
    html = confirmed.get_body(("html",)).get_content()
    assert "Olá Ana Sousa" in text and "220,00\xa0€" in text  # Babel's pt-PT money
    assert "<strong>confirmada</strong>" in html
    event = calendar_of(confirmed).walk("VEVENT")[0]
    assert str(event["UID"]) == f"{booking['id']}@booking-platform"
    assert event.decoded("DTSTART") == date.fromisoformat(booking["check_in"])
    assert event.decoded("DTEND") == date.fromisoformat(booking["check_out"])
    assert str(event["STATUS"]) == "CONFIRMED"

    cancel(tenant, booking["id"])
    mails = until(lambda: len(mail_to(platform, email)) >= 3 and mail_to(platform, email))
    subjects = [m["Subject"] for m in mails]
    assert subjects == [
        f"A sua reserva {booking['reference']} está confirmada",
        f"A sua reserva {booking['reference']} foi cancelada",
        f"Reembolso da reserva {booking['reference']}",
    ]
    removal = calendar_of(mails[1])
    assert str(removal["METHOD"]) == "CANCEL"
    removed = removal.walk("VEVENT")[0]
    assert str(removed["UID"]) == str(event["UID"])
    assert int(removed["SEQUENCE"]) > int(event["SEQUENCE"])
    assert str(removed["STATUS"]) == "CANCELLED"
    assert calendar_of(mails[2]) is None  # a refund changes nothing in the calendar


def test_an_unknown_locale_falls_back_to_the_default_language(
    platform: Platform, tenant: PlatformClient
) -> None:
    email = f"kai-{uuid.uuid4().hex[:8]}@example.com"
    booking = a_stay(tenant, 75, email=email, locale="xx-YY")
    [mail] = until(lambda: mail_to(platform, email), timeout=30)
    assert mail["Subject"] == f"Your booking {booking['reference']} is confirmed"
    assert "€220.00" in mail.get_body(("plain",)).get_content()


# -- duplicates -------------------------------------------------------------------------------


def test_a_duplicated_event_gives_one_email_and_one_webhook_delivery(
    platform: Platform, tenant: PlatformClient, receiver: Receiver
) -> None:
    path = f"/dup-{uuid.uuid4().hex[:8]}"
    register(tenant, receiver.base_url + path)
    email = f"dup-{uuid.uuid4().hex[:8]}@example.com"
    booking = a_stay(tenant, 80, email=email)
    settled(tenant, booking["id"], 3, channel=None)  # two webhooks, the confirmation email

    records = asyncio.run(records_of(platform.bootstrap, BOOKING_EVENTS, booking["id"], 2))
    confirmed = next(r for r in records if dict(r.headers)["ce_type"] == b"booking.confirmed.v1")
    offset = asyncio.run(republish(platform.bootstrap, confirmed))
    assert asyncio.run(
        wait_consumed(
            platform.bootstrap, "notifier-worker", BOOKING_EVENTS.name, confirmed.partition, offset
        )
    ), "the notifier consumed the duplicate"
    time.sleep(1.0)  # a second delivery, if there were one, would be under way by now

    assert len(mail_to(platform, email)) == 1
    ids = [r.json()["id"] for r in receiver.delivered(path)]
    assert len(ids) == 2 and len(set(ids)) == 2, ids
    channels = Counter(
        (n["event_type"], n["channel"]) for n in notifications(tenant, booking["id"], None)
    )
    assert channels == {
        ("booking.created.v1", "webhook"): 1,
        ("booking.confirmed.v1", "webhook"): 1,
        ("booking.confirmed.v1", "email"): 1,
    }


# -- webhooks ---------------------------------------------------------------------------------


def test_deliveries_are_signed_and_a_receiver_that_fails_then_recovers_gets_the_same_webhook_id(
    tenant: PlatformClient, receiver: Receiver
) -> None:
    path = f"/flaky-{uuid.uuid4().hex[:8]}"
    # Every message fails twice (503, then a dropped 500), then succeeds.
    receiver.scripts[path] = lambda _p, seen: (
        (503 if seen == 0 else 500, {}) if seen < 2 else (200, {})
    )
    endpoint = register(tenant, receiver.base_url + path, event_types=["booking.confirmed"])
    booking = a_stay(tenant, 85)
    [note] = settled(tenant, booking["id"], 1)

    attempts = receiver.at(path)
    assert [a.status for a in attempts] == [503, 500, 200]
    assert (
        len({a.webhook_id for a in attempts}) == 1 and attempts[0].webhook_id == note["webhook_id"]
    )
    stamps = [int(a.headers["webhook-timestamp"]) for a in attempts]
    assert stamps == sorted(stamps) and stamps[-1] > stamps[0]  # fresh on every attempt
    for attempt in attempts:
        payload = verify(endpoint["secret"], attempt)
        assert payload["type"] == "booking.confirmed"
        assert payload["data"]["booking_id"] == booking["id"]
    with pytest.raises(Exception):  # noqa: B017 - the library raises its own verification error
        verify("whsec_" + "A" * 43 + "=", attempts[-1])

    detail = tenant.http.get(notifier(tenant, f"notifications/{note['id']}")).json()
    assert detail["status"] == "delivered" and detail["attempts"] == 3
    assert [(a["code"], a["verdict"]) for a in detail["attempt_log"]] == [
        (503, "retry"),
        (500, "retry"),
        (200, "delivered"),
    ]
    assert json.loads(detail["body"])["id"] == attempts[0].json()["id"]


def test_events_of_one_booking_reach_the_receiver_in_order_even_through_retries(
    tenant: PlatformClient, receiver: Receiver
) -> None:
    path = f"/order-{uuid.uuid4().hex[:8]}"
    # Every message's first attempt fails, so each one goes back on the schedule.
    receiver.scripts[path] = lambda _p, seen: (503, {}) if seen == 0 else (200, {})
    register(tenant, receiver.base_url + path)
    bookings = [a_stay(tenant, 90 + i) for i in range(3)]
    for b in bookings:
        cancel(tenant, b["id"])
    for b in bookings:
        settled(tenant, b["id"], 4)  # created, confirmed, cancelled, refunded

    for b in bookings:
        got = [
            r.json()
            for r in receiver.delivered(path)
            if r.json()["data"].get("booking_id") == b["id"]
        ]
        assert [g["type"] for g in got] == [
            "booking.created",
            "booking.confirmed",
            "booking.cancelled",
            "booking.refunded",
        ]
        versions = [g["data"]["booking_version"] for g in got]
        assert versions == sorted(versions)


def test_a_410_disables_the_endpoint_and_a_replay_sends_the_same_message_again(
    tenant: PlatformClient, receiver: Receiver
) -> None:
    path = f"/gone-{uuid.uuid4().hex[:8]}"
    receiver.scripts[path] = lambda _p, _seen: (410, {})
    endpoint = register(tenant, receiver.base_url + path, event_types=["booking.confirmed"])
    booking = a_stay(tenant, 100)
    [note] = settled(tenant, booking["id"], 1)
    assert note["status"] == "failed" and note["attempts"] == 1
    current = tenant.http.get(notifier(tenant, f"webhook-endpoints/{endpoint['id']}")).json()
    assert current["status"] == "disabled" and "410" in current["disabled_reason"]

    # Disabled: a replay is refused; nothing new is queued for it.
    refused = tenant.http.post(notifier(tenant, f"notifications/{note['id']}/replay"))
    assert refused.status_code == 409 and refused.json()["type"].endswith("/endpoint-disabled")
    other = a_stay(tenant, 101)
    time.sleep(1.0)
    assert notifications(tenant, other["id"]) == []

    receiver.scripts[path] = lambda _p, _seen: (204, {})
    enabled = tenant.http.post(notifier(tenant, f"webhook-endpoints/{endpoint['id']}/enable"))
    assert enabled.json()["status"] == "active"
    replay = tenant.http.post(notifier(tenant, f"notifications/{note['id']}/replay"))
    assert replay.status_code == 202 and replay.json()["status"] == "pending"
    [again] = settled(tenant, booking["id"], 1)
    assert again["status"] == "delivered" and again["replays"] == 1
    sent = receiver.at(path)
    assert [r.status for r in sent] == [410, 204]
    assert sent[0].webhook_id == sent[1].webhook_id and sent[0].body == sent[1].body
    log = tenant.http.get(notifier(tenant, f"webhook-endpoints/{endpoint['id']}/deliveries"))
    assert [d["id"] for d in log.json()] == [note["id"]]
    # The platform's own disabling is in the endpoint's audit trail, beside the admin's enabling.
    trail = tenant.http.get(notifier(tenant, f"webhook-endpoints/{endpoint['id']}/audit")).json()
    assert [e["action"] for e in trail] == ["create", "disable", "enable"], trail
    assert trail[1]["actor"] == "notifier-dispatcher" and trail[2]["actor"].startswith("dev-")
    assert "410" in trail[1]["new"]["disabled_reason"]


def test_a_429_or_503_is_retried_no_sooner_than_retry_after_and_redirects_are_not_followed(
    tenant: PlatformClient, receiver: Receiver
) -> None:
    slow, moved = f"/slow-{uuid.uuid4().hex[:8]}", f"/moved-{uuid.uuid4().hex[:8]}"
    receiver.scripts[slow] = lambda _p, seen: (
        (429, {"Retry-After": "4"}) if seen == 0 else (200, {})
    )
    receiver.scripts[moved] = lambda _p, seen: (
        (307, {"Location": receiver.base_url + slow}) if seen < 1 else (200, {})
    )
    register(tenant, receiver.base_url + slow, event_types=["booking.confirmed"])
    register(tenant, receiver.base_url + moved, event_types=["booking.confirmed"])
    booking = a_stay(tenant, 105)
    settled(tenant, booking["id"], 2)

    first, second = receiver.at(slow)[:2]
    assert first.status == 429 and second.status == 200
    assert second.at - first.at >= 4.0  # the schedule alone would have waited about 1 s
    # The 307 was not followed: the slow path saw no request from the moved endpoint's message.
    assert {r.webhook_id for r in receiver.at(slow)} == {first.webhook_id}
    assert [r.status for r in receiver.at(moved)] == [307, 200]


def test_a_rotated_secret_signs_beside_the_old_one(
    tenant: PlatformClient, receiver: Receiver
) -> None:
    path = f"/rotate-{uuid.uuid4().hex[:8]}"
    endpoint = register(tenant, receiver.base_url + path, event_types=["booking.confirmed"])
    rotated = tenant.http.post(
        notifier(tenant, f"webhook-endpoints/{endpoint['id']}/rotate-secret")
    )
    assert rotated.status_code == 200
    new_secret = rotated.json()["secret"]
    assert new_secret != endpoint["secret"] and rotated.json()["previous_secret_expires_at"]
    a_stay(tenant, 110)
    [delivery] = until(lambda: receiver.delivered(path), timeout=30)
    assert len(delivery.headers["webhook-signature"].split(" ")) == 2
    assert verify(new_secret, delivery) == verify(endpoint["secret"], delivery)
    listed = tenant.http.get(notifier(tenant, "webhook-endpoints")).json()
    assert all("secret" not in e for e in listed)


def test_private_and_unknown_targets_and_event_types_are_refused(tenant: PlatformClient) -> None:
    for url in (
        "https://10.1.2.3/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[fd00::1]/hook",
        "http://93.184.215.14/plain-http",  # public, but not over TLS
        "ftp://example.com/x",
        "https://user:pw@example.com/x",
        "https://no-such-host.invalid/x",
    ):
        r = tenant.http.post(notifier(tenant, "webhook-endpoints"), json={"url": url})
        assert r.status_code == 422, (url, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    r = tenant.http.post(
        notifier(tenant, "webhook-endpoints"),
        json={"url": "https://example.com/x", "event_types": ["booking.exploded"]},
    )
    assert r.status_code == 422 and r.json()["type"].endswith("/unknown-event-type")
    assert tenant.http.get(notifier(tenant, "webhook-endpoints")).json() == []


def test_another_tenant_sees_nothing_of_an_endpoint(
    platform: Platform, tenant: PlatformClient, receiver: Receiver
) -> None:
    endpoint = register(tenant, receiver.base_url + "/tenancy")
    stranger = httpx.Client(
        headers={"Authorization": f"Bearer {platform.token(tenant='someone-else')}"}, timeout=10
    )
    with stranger:
        for method, path in (
            ("GET", f"webhook-endpoints/{endpoint['id']}"),
            ("POST", f"webhook-endpoints/{endpoint['id']}/rotate-secret"),
            ("POST", f"webhook-endpoints/{endpoint['id']}/disable"),
            ("GET", f"webhook-endpoints/{endpoint['id']}/deliveries"),
        ):
            r = stranger.request(method, notifier(tenant, path))
            assert r.status_code == 404, (path, r.text)
    guest = httpx.Client(
        headers={"Authorization": f"Bearer {platform.token(roles=('guest',))}"}, timeout=10
    )
    with guest:
        assert guest.get(notifier(tenant, "webhook-endpoints")).status_code == 403
    # An endpoint receives all of the tenant's guest data: staff may not see or make one.
    staff = httpx.Client(
        headers={"Authorization": f"Bearer {platform.token(roles=('staff',))}"}, timeout=10
    )
    with staff:
        assert staff.get(notifier(tenant, "webhook-endpoints")).status_code == 403
        made = staff.post(notifier(tenant, "webhook-endpoints"), json={"url": receiver.base_url})
        assert made.status_code == 403


# -- restarts ---------------------------------------------------------------------------------


def test_a_notifier_killed_mid_schedule_continues_it_without_losing_or_doubling(
    platform: Platform, tenant: PlatformClient, receiver: Receiver
) -> None:
    path = f"/down-{uuid.uuid4().hex[:8]}"
    down = {"yes": True}
    receiver.scripts[path] = lambda _p, _seen: (503, {}) if down["yes"] else (200, {})
    register(tenant, receiver.base_url + path)
    bookings = [a_stay(tenant, 120 + i) for i in range(4)]
    ids = {b["id"] for b in bookings}

    # Every booking's first message has failed twice and waits for its next attempt; the
    # second waits behind it (one booking's events go out in order).
    def all_waiting() -> bool:
        found = [n for b in ids for n in notifications(tenant, b)]
        first = [n for n in found if n["event_type"] == "booking.created.v1"]
        return (
            len(found) == 8
            and all(n["status"] == "pending" for n in found)
            and all(n["attempts"] >= 2 for n in first)
        )

    assert until(all_waiting, timeout=30)
    platform.procs[("notifier", "worker")].kill()
    time.sleep(2.0)  # attempts fall due while nobody is there to make them
    platform.start_service("notifier", "worker")
    time.sleep(1.0)
    down["yes"] = False
    for b in ids:
        settled(tenant, b, 2)

    delivered = receiver.delivered(path)
    by_id = Counter(r.webhook_id for r in delivered)
    assert len(by_id) == 8 and set(by_id.values()) == {1}, by_id  # none lost, none doubled
    for b in ids:
        got = [r.json()["type"] for r in delivered if r.json()["data"]["booking_id"] == b]
        assert got == ["booking.created", "booking.confirmed"]
    assert all(n["status"] == "delivered" for b in ids for n in notifications(tenant, b))


def test_webhook_secrets_are_sealed_at_rest_and_older_ones_are_sealed_by_the_worker(
    platform: Platform, tenant: PlatformClient, receiver: Receiver
) -> None:
    """The database holds no webhook secret in clear: what registration shows once is stored
    sealed (NOTIFIER_SECRETS_KEYS) and deliveries are signed with it. A secret stored in clear
    by a release before sealing still signs, and the re-sealing pass seals it."""
    from notifier.adapters.sealing import SecretBox, reseal
    from service_kit.db import make_engine

    db = platform.database_urls["notifier"]
    path = f"/sealed-{uuid.uuid4().hex[:8]}"
    endpoint = register(tenant, receiver.base_url + path, event_types=["booking.confirmed"])
    stored = scalar(db, "SELECT secret FROM webhook_endpoints WHERE id = $1::uuid", endpoint["id"])
    assert stored.startswith("sealed:") and endpoint["secret"] not in stored
    legacy = "whsec_" + "b" * 42 + "=="
    scalar(
        db,
        "UPDATE webhook_endpoints SET secret = $2 WHERE id = $1::uuid RETURNING id",
        endpoint["id"],
        legacy,
    )
    booking = a_stay(tenant, 95)
    [_note] = settled(tenant, booking["id"], 1)
    [attempt] = receiver.at(path)
    assert verify(legacy, attempt)["data"]["booking_id"] == booking["id"]

    async def reseal_now() -> int:
        engine = make_engine(db)
        try:
            return await reseal(engine, SecretBox.of(platform.secrets_key))
        finally:
            await engine.dispose()

    assert asyncio.run(reseal_now()) >= 1
    resealed = scalar(
        db, "SELECT secret FROM webhook_endpoints WHERE id = $1::uuid", endpoint["id"]
    )
    assert (
        resealed.startswith("sealed:")
        and SecretBox.of(platform.secrets_key).open(resealed) == legacy
    )
