"""Payments: commands sent over real Kafka to the payment worker, REST for staff, the signed
provider webhook, bank transfers, refunds. What a command did is read from the payment
database: its rows, the provider's own ledger, the call log and the outbox (the replies)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from contracts.base import ContractMessage, Money
from contracts.payment import (
    AuthorizePayment,
    CapturePayment,
    RefundPayment,
    VoidPayment,
)
from contracts.topics import PAYMENT_COMMANDS
from devstack.platform import Platform
from payment.adapters.simulated_card import SIGNATURE_HEADER, sign, webhook_event
from tests.support.db import fetch, scalar
from tests.support.kafka import envelope_of

pytestmark = pytest.mark.e2e

TENANT = "pay-tenant"


@pytest.fixture()
async def send(platform: Platform) -> AsyncIterator[Any]:
    producer = AIOKafkaProducer(**platform.kafka_kwargs())
    await producer.start()

    async def send_command(command: ContractMessage, key: str) -> None:
        env = envelope_of(command, key)  # a fresh message each time: a resend, not a redelivery
        await producer.send_and_wait(
            PAYMENT_COMMANDS.name, env.data, key=key.encode(), headers=env.headers()
        )

    yield send_command
    await producer.stop()


def staff_headers(platform: Platform, role: str = "admin") -> dict[str, str]:
    """Refunds and verifying a transfer need an admin; reading payments, staff."""
    token = platform.token(tenant=TENANT, roles=(role,), subject="clerk-7")
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture()
async def staff(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=platform.url("payment") + "/api/v1", headers=staff_headers(platform), timeout=60
    ) as http:
        yield http


def db(platform: Platform) -> str:
    return platform.database_urls["payment"]


async def eventually(probe: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.2)


def replies(platform: Platform, booking_id: str) -> list[str]:
    return [
        r["ce_type"].split(".")[1]
        for r in fetch(
            db(platform),
            "SELECT ce_type FROM outbox WHERE key = $1 ORDER BY id",
            booking_id,
        )
    ]


def payment_of(platform: Platform, booking_id: str) -> Any:
    rows = fetch(
        db(platform),
        "SELECT id::text, status, captured_amount, refunded_amount, decline_code, verified_by, "
        "late, next_action, provider_ref FROM payments WHERE booking_id = $1",
        booking_id,
    )
    return rows[0] if rows else None


def authorize(booking_id: str, pm: str, amount: str = "100.00", **extra: Any) -> AuthorizePayment:
    return AuthorizePayment(
        booking_id=booking_id,
        step="authorize_payment",
        amount=Money(amount=Decimal(amount), currency="EUR"),
        payment_method=pm,
        tenant_id=TENANT,
        **extra,
    )


async def captured_payment(platform: Platform, send: Any, amount: str = "100.00") -> Any:
    booking_id = f"pay-{uuid.uuid4()}"
    await send(authorize(booking_id, "pm_card_visa", amount), booking_id)
    p = await eventually(lambda: payment_of(platform, booking_id))
    await send(
        CapturePayment(booking_id=booking_id, step="capture_payment", payment_id=p["id"]),
        booking_id,
    )
    await eventually(lambda: payment_of(platform, booking_id)["status"] == "captured")
    return booking_id, p["id"]


async def test_every_payment_command_sent_three_times_has_one_provider_effect(
    platform: Platform, send: Any
) -> None:
    booking_id = f"pay-{uuid.uuid4()}"
    for _ in range(3):
        await send(authorize(booking_id, "pm_card_visa"), booking_id)
    p = await eventually(lambda: payment_of(platform, booking_id))
    capture = CapturePayment(booking_id=booking_id, step="capture_payment", payment_id=p["id"])
    refund = RefundPayment(
        booking_id=booking_id,
        step="refund",
        payment_id=p["id"],
        amount=Money(amount=Decimal("30.00"), currency="EUR"),
        refund_key="cancel-1",
    )
    for command in (capture, capture, capture, refund, refund, refund):
        await send(command, booking_id)
    assert await eventually(lambda: replies(platform, booking_id).count("PaymentRefunded") == 3)
    after = payment_of(platform, booking_id)
    assert (after["status"], str(after["refunded_amount"])) == ("captured", "30.000000")
    ops = fetch(
        db(platform),
        "SELECT operation, count(*) AS n FROM simulated_provider.operations "
        "WHERE idempotency_key LIKE $1 GROUP BY operation ORDER BY operation",
        f"{booking_id}:%",
    )
    assert {(o["operation"], o["n"]) for o in ops} == {
        ("authorize", 1),
        ("capture", 1),
        ("refund", 1),
    }
    assert (
        scalar(db(platform), "SELECT count(*) FROM payments WHERE booking_id = $1", booking_id) == 1
    )
    assert (
        scalar(
            db(platform),
            "SELECT count(*) FROM refunds WHERE payment_id = CAST($1 AS uuid)",
            p["id"],
        )
        == 1
    )
    # Every answer repeated, never a contradicting one.
    assert replies(platform, booking_id).count("PaymentAuthorized") == 3
    assert replies(platform, booking_id).count("PaymentCaptured") == 3
    # A void after capture (a compensation that finds the money already taken) gives back
    # what is left, in full, once: the money never stays on a booking that gave up.
    void = VoidPayment(booking_id=booking_id, step="void", payment_id=p["id"])
    for _ in range(2):
        await send(void, booking_id)
    assert await eventually(lambda: replies(platform, booking_id).count("PaymentVoided") == 2)
    voided = payment_of(platform, booking_id)
    assert voided["status"] == "captured"
    assert voided["refunded_amount"] == voided["captured_amount"] > after["refunded_amount"]
    refunds = fetch(
        db(platform),
        "SELECT idempotency_key, amount FROM refunds WHERE payment_id = CAST($1 AS uuid) "
        "ORDER BY created_at",
        p["id"],
    )
    assert [r["idempotency_key"] for r in refunds] == ["cancel-1", "compensation:void"]
    assert sum(r["amount"] for r in refunds) == voided["captured_amount"]


async def test_a_provider_timeout_after_success_is_reconciled_without_a_second_charge(
    platform: Platform, send: Any
) -> None:
    booking_id = f"pay-{uuid.uuid4()}"
    await send(authorize(booking_id, "pm_card_timeout_after_success"), booking_id)
    assert await eventually(lambda: "PaymentAuthorized" in replies(platform, booking_id))
    assert payment_of(platform, booking_id)["status"] == "authorized"
    calls = fetch(
        db(platform),
        "SELECT error, result FROM provider_calls WHERE idempotency_key = $1 ORDER BY id",
        f"{booking_id}:authorize",
    )
    assert len(calls) >= 2 and "ProviderTimeout" in calls[0]["error"]
    assert calls[-1]["error"] is None
    assert json.loads(calls[-1]["result"])["outcome"] == "succeeded"
    charges = scalar(
        db(platform),
        "SELECT count(*) FROM simulated_provider.operations WHERE idempotency_key = $1",
        f"{booking_id}:authorize",
    )
    assert charges == 1


async def test_declines_answer_with_the_providers_reason(platform: Platform, send: Any) -> None:
    for pm, reason in (
        ("pm_card_declined", "card_declined"),
        ("pm_card_insufficient_funds", "insufficient_funds"),
        ("pm_card_bogus", "unknown_payment_method"),
    ):
        booking_id = f"pay-{uuid.uuid4()}"
        await send(authorize(booking_id, pm), booking_id)
        p = await eventually(lambda b=booking_id: payment_of(platform, b))
        assert (p["status"], p["decline_code"]) == ("failed", reason)
        assert await eventually(lambda b=booking_id: replies(platform, b) == ["PaymentDeclined"])


async def test_three_d_secure_completes_by_a_signed_webhook_once(
    platform: Platform, send: Any
) -> None:
    booking_id = f"pay-{uuid.uuid4()}"
    await send(authorize(booking_id, "pm_card_requires_action"), booking_id)
    p = await eventually(lambda: payment_of(platform, booking_id))
    assert p["status"] == "requires_action" and p["next_action"].startswith("https://")
    await asyncio.sleep(1)
    # The saga hears that the guest must act, and waits.
    assert await eventually(lambda: replies(platform, booking_id) == ["PaymentActionRequired"])
    url = platform.url("payment") + "/api/v1/webhooks/simulated-card"
    body = webhook_event(p["provider_ref"], succeeded=True)
    secret = platform.webhook_secret
    events_before = scalar(db(platform), "SELECT count(*) FROM provider_events")
    async with httpx.AsyncClient(timeout=30) as http:
        refused = [
            await http.post(url, content=body),  # unsigned
            await http.post(url, content=body, headers={SIGNATURE_HEADER: sign("wrong", body)}),
            await http.post(
                url,
                content=body,
                headers={SIGNATURE_HEADER: sign(secret, body, int(time.time()) - 3600)},
            ),  # replayed an hour later
            await http.post(
                url,
                content=body.replace(b"succeeded", b"payment_failed"),
                headers={SIGNATURE_HEADER: sign(secret, body)},
            ),  # tampered
        ]
        assert [r.status_code for r in refused] == [400, 400, 400, 400]
        assert secret not in " ".join(r.text for r in refused)
        assert scalar(db(platform), "SELECT count(*) FROM provider_events") == events_before
        assert payment_of(platform, booking_id)["status"] == "requires_action"
        first = await http.post(url, content=body, headers={SIGNATURE_HEADER: sign(secret, body)})
        again = await http.post(url, content=body, headers={SIGNATURE_HEADER: sign(secret, body)})
    assert first.json() == {"status": "processed"} and again.json() == {"status": "duplicate"}
    assert payment_of(platform, booking_id)["status"] == "authorized"
    assert replies(platform, booking_id) == ["PaymentActionRequired", "PaymentAuthorized"]


async def test_a_bank_transfer_waits_for_staff_or_its_deadline(
    platform: Platform, send: Any, staff: httpx.AsyncClient
) -> None:
    on_time, too_late = f"pay-{uuid.uuid4()}", f"pay-{uuid.uuid4()}"
    await send(authorize(on_time, "bank_transfer", "250.00"), on_time)
    await send(
        authorize(
            too_late, "bank_transfer", "80.00", pay_by=datetime.now(UTC) + timedelta(seconds=2)
        ),
        too_late,
    )
    p = await eventually(lambda: payment_of(platform, on_time))
    assert p["status"] == "requires_action" and "quoting BT-" in p["next_action"]
    verified = await staff.post(f"/payments/{p['id']}/verify")
    assert verified.status_code == 200, verified.text
    body = verified.json()
    assert (body["status"], body["captured_amount"], body["verified_by"]) == (
        "captured",
        "250.00",
        "clerk-7",
    )
    assert body["verified_at"] and body["late"] is False
    assert replies(platform, on_time) == ["PaymentActionRequired", "PaymentAuthorized"]
    by_booking = await staff.get(f"/bookings/{on_time}/payment")
    assert by_booking.json()["id"] == p["id"] and by_booking.json()["verified_by"] == "clerk-7"
    listed = (await staff.get("/payments", params={"booking_id": on_time})).json()
    assert [x["id"] for x in listed] == [p["id"]]
    calls = (await staff.get(f"/payments/{p['id']}/provider-calls")).json()
    assert [c["operation"] for c in calls] == ["authorize", "capture"]
    assert (await staff.post(f"/payments/{p['id']}/verify")).json()["verified_at"] == body[
        "verified_at"
    ]

    # The other one's deadline passes: canceled, the saga hears why.
    assert await eventually(
        lambda: replies(platform, too_late) == ["PaymentActionRequired", "PaymentDeclined"]
    )
    late = payment_of(platform, too_late)
    assert (late["status"], late["decline_code"]) == ("canceled", "payment_deadline_passed")
    # The money arrives anyway: captured, flagged late, announced for the saga to settle.
    arrived = (await staff.post(f"/payments/{late['id']}/verify")).json()
    assert (arrived["status"], arrived["late"]) == ("captured", True)
    assert replies(platform, too_late) == [
        "PaymentActionRequired",
        "PaymentDeclined",
        "late_payment_received",
    ]


async def test_refunds_over_rest_are_partial_idempotent_and_never_exceed_the_capture(
    platform: Platform, send: Any, staff: httpx.AsyncClient
) -> None:
    booking_id, payment_id = await captured_payment(platform, send, "100.00")

    async def refund(amount: str, key: str | None) -> httpx.Response:
        headers = {"Idempotency-Key": key} if key else {}
        return await staff.post(
            f"/payments/{payment_id}/refunds",
            json={"amount": amount, "reason": "x"},
            headers=headers,
        )

    first = await refund("30.00", "r1")
    assert first.status_code == 201, first.text
    assert first.json()["payment"]["refunded_amount"] == "30.00"
    replay = await refund("30.00", "r1")
    assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["refund"]["id"] == first.json()["refund"]["id"]
    assert (await refund("45.00", "r2")).status_code == 201
    before = payment_of(platform, booking_id)["refunded_amount"]
    for amount, key, status, problem in (
        ("25.01", "r3", 422, "refund-exceeds-captured"),
        ("31.00", "r1", 422, "idempotency-key-reused"),
        ("10.001", "r4", 422, "invalid-amount"),
        ("10.005", "r4", 422, "invalid-amount"),
        ("-5.00", "r4", 422, "validation-error"),
        ("0", "r4", 422, "invalid-amount"),
        ("5.00", None, 428, "idempotency-key-required"),
    ):
        r = await refund(amount, key)
        assert (r.status_code, r.json()["type"].split("/")[-1]) == (status, problem), (
            amount,
            r.text,
        )
    assert payment_of(platform, booking_id)["refunded_amount"] == before
    last = (await refund("25.00", "r5")).json()["payment"]
    assert (last["refunded_amount"], len(last["refunds"])) == ("100.00", 3)
    events = [t for t in replies(platform, booking_id) if t == "refunded"]
    assert len(events) == 3


async def test_concurrent_refunds_never_add_up_past_the_capture(
    platform: Platform, send: Any, staff: httpx.AsyncClient
) -> None:
    booking_id, payment_id = await captured_payment(platform, send, "100.00")
    answers = await asyncio.gather(
        *(
            staff.post(
                f"/payments/{payment_id}/refunds",
                json={"amount": "10.00"},
                headers={"Idempotency-Key": f"k{i}"},
            )
            for i in range(25)
        )
    )
    codes = sorted(a.status_code for a in answers)
    assert codes == [201] * 10 + [422] * 15
    assert str(payment_of(platform, booking_id)["refunded_amount"]) == "100.000000"


def test_payments_are_staff_only_and_tenant_scoped(platform: Platform) -> None:
    with httpx.Client(
        base_url=platform.url("payment") + "/api/v1",
        headers=staff_headers(platform, "staff"),
        timeout=30,
    ) as staff:
        mine = staff.get("/payments", params={"limit": 5})
        assert mine.status_code == 200
        some = mine.json()[0]["id"] if mine.json() else str(uuid.uuid4())
        # Moving money is an admin's: staff may look, not verify or refund.
        assert staff.post(f"/payments/{some}/verify").status_code == 403
        refund = staff.post(
            f"/payments/{some}/refunds",
            json={"amount": "1.00"},
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        assert refund.status_code == 403, refund.text
    with httpx.Client(base_url=platform.url("payment") + "/api/v1", timeout=30) as http:
        assert http.get("/payments").status_code == 401
        guest = {"Authorization": f"Bearer {platform.token(tenant=TENANT, roles=('guest',))}"}
        assert http.get("/payments", headers=guest).status_code == 403
        other = {"Authorization": f"Bearer {platform.token(tenant='other', roles=('admin',))}"}
        assert http.get(f"/payments/{some}", headers=other).status_code == 404
        assert http.post(f"/payments/{some}/verify", headers=other).status_code == 404
        assert http.get("/payments", headers=other).json() == []


async def test_test_cards_are_declined_unless_enabled_and_refused_in_production(
    platform: Platform, send: Any
) -> None:
    """A payment worker without PAYMENT_TEST_METHODS_ENABLED declines the simulated card's test
    methods (no payment is made) and still takes bank transfers; one asked to enable them under
    the production profile refuses to start, saying why."""
    worker = ("payment", "worker")
    platform.procs[worker].stop()
    try:
        refused = platform.start_service(
            *worker,
            extra_env={"PLATFORM_PROFILE": "production", "PAYMENT_TEST_METHODS_ENABLED": "true"},
        )
        refused.popen.wait(60)
        assert refused.popen.returncode not in (None, 0)
        assert "PLATFORM_PROFILE=production" in refused.tail(80)
        platform.start_service(*worker, extra_env={"PAYMENT_TEST_METHODS_ENABLED": "false"})
        platform.wait_ready()
        card, transfer = f"pay-{uuid.uuid4()}", f"pay-{uuid.uuid4()}"
        await send(authorize(card, "pm_card_visa"), card)
        await send(authorize(transfer, "bank_transfer"), transfer)
        assert await eventually(lambda: replies(platform, card) == ["PaymentDeclined"])
        [payload] = [
            json.loads(r["payload"])
            for r in fetch(db(platform), "SELECT payload FROM outbox WHERE key = $1", card)
        ]
        assert payload["reason"] == "payment_method_not_enabled", payload
        assert payment_of(platform, card) is None
        p = await eventually(lambda: payment_of(platform, transfer))
        assert p["status"] == "requires_action"
    finally:
        platform.procs[worker].stop()
        platform.start_service(*worker)
        platform.wait_ready()
