"""One trace from the REST request through the outbox and Kafka to every consumer, exported by
each process over OTLP/HTTP to a collector on loopback; and the ids in the JSON log lines."""

from __future__ import annotations

import json
import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta

from devstack.client import PlatformClient, booking_body
from devstack.platform import Platform
from tests.support.otlp import Collector, ReceivedSpan

PARTICIPANTS = {"inventory", "pricing", "payment"}


def _book_with_trace(client: PlatformClient, name: str) -> tuple[str, str, str]:
    """(booking id, trace id, the caller's span id): a confirmed booking made under our trace."""
    resource = client.create_resource(f"{name} {uuid.uuid4().hex[:6]}", capacity=1)
    client.create_rate_plan(resource["id"], "90.00", "EUR")
    trace_id, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    day = datetime.now(UTC).date() + timedelta(days=50)
    response = client.http.post(
        f"{client.urls['booking']}/api/v1/bookings",
        json=booking_body(resource["id"], day),
        headers={
            "Idempotency-Key": str(uuid.uuid4()),
            "traceparent": f"00-{trace_id}-{caller_span}-01",
        },
    )
    assert response.status_code in (201, 202), response.text
    # The answer names the server's span, in our trace.
    assert response.headers["traceparent"].split("-")[1] == trace_id
    assert response.headers["traceparent"].split("-")[2] != caller_span
    booking_id = response.json()["id"]
    assert client.wait_terminal(booking_id)["status"] == "confirmed"
    return booking_id, trace_id, caller_span


def _complete(spans: list[ReceivedSpan], caller_span: str) -> bool:
    """Every service has handled a message, every parent has arrived and every message handled
    has its relay's span: each process sends its spans on its own schedule, so a child (or the
    consumer of a message) may reach the collector before its parent (or the publisher)."""
    consumers = {s.service for s in spans if s.kind == "CONSUMER"}
    ids = {s.span_id for s in spans} | {caller_span}
    published = {s.attributes["messaging.message.id"] for s in spans if s.kind == "PRODUCER"}
    return (
        consumers >= PARTICIPANTS | {"booking", "notifier"}
        and all(s.parent_span_id in ids for s in spans)
        and all(
            s.attributes["messaging.message.id"] in published for s in spans if s.kind == "CONSUMER"
        )
    )


def test_one_trace_spans_the_request_the_relays_and_every_consumer(
    platform: Platform, client: PlatformClient, collector: Collector
) -> None:
    _, trace_id, caller_span = _book_with_trace(client, "traced")
    deadline = time.monotonic() + 30
    spans = collector.trace(trace_id)
    while not _complete(spans, caller_span) and time.monotonic() < deadline:
        time.sleep(0.5)
        spans = collector.trace(trace_id)
    assert {s.service for s in spans if s.kind == "CONSUMER"} >= PARTICIPANTS | {
        "booking",
        "notifier",
    }, sorted({(s.service, s.kind, s.name) for s in spans})

    by_id = {s.span_id: s for s in spans}
    assert len(by_id) == len(spans), "a span id was used twice"
    # The request's span is the child of the caller's.
    [server] = [s for s in spans if s.kind == "SERVER" and s.name == "POST /api/v1/bookings"]
    assert (server.service, server.process) == ("booking", "web")
    assert server.parent_span_id == caller_span
    assert server.attributes["http.response.status_code"] in (201, 202)
    # The request asked inventory about the resource: a CLIENT span, inventory's SERVER under it.
    [call] = [s for s in spans if s.kind == "CLIENT"]
    assert call.parent_span_id == server.span_id
    assert call.name == "GET /api/v1/resources/{resource_id}"
    [answer] = [s for s in spans if s.service == "inventory" and s.kind == "SERVER"]
    assert answer.parent_span_id == call.span_id and answer.process == "web"
    assert answer.name == "GET /api/v1/resources/{resource_id}"
    # No span hangs off a parent that is not in the trace.
    for s in spans:
        assert s.parent_span_id == caller_span or s.parent_span_id in by_id, s
    # Each message consumed was published by a relay; both spans are children of the span
    # that wrote the outbox row (the record keeps the row's traceparent).
    producers = {s.attributes["messaging.message.id"]: s for s in spans if s.kind == "PRODUCER"}
    consumed = [s for s in spans if s.kind == "CONSUMER"]
    for consumer in consumed:
        producer = producers.get(consumer.attributes["messaging.message.id"])
        assert producer is not None, f"no relay span for {consumer}"
        assert producer.parent_span_id == consumer.parent_span_id
        assert (
            producer.attributes["messaging.destination.name"]
            == (consumer.attributes["messaging.destination.name"])
        )
        assert consumer.attributes["booking_platform.outcome"] == "applied"
        assert not consumer.error and not producer.error
    # The first commands came from the request's own transaction.
    first = [p for p in producers.values() if p.parent_span_id == server.span_id]
    assert first and all(p.service == "booking" for p in first)
    # Every participant's worker took part, under a reply chain back to the booking worker.
    for service in PARTICIPANTS:
        assert any(
            s.service == service and s.process == "worker" and s.name.endswith(".commands")
            for s in consumed
        ), service


def _log_lines(platform: Platform, name: str, booking_id: str) -> list[dict[str, object]]:
    path = platform.config.workdir / "logs" / f"{name}.log"
    out = []
    for line in path.read_text(errors="replace").splitlines():
        if booking_id in line and line.startswith("{"):
            doc = json.loads(line)
            if doc.get("booking_id") == booking_id:
                out.append(doc)
    return out


def test_log_lines_carry_the_booking_saga_message_and_trace(
    platform: Platform, client: PlatformClient
) -> None:
    booking_id, trace_id, _ = _book_with_trace(client, "logged")
    # The request started the saga: booking and saga ids, the request's trace, no message.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        started = [
            d for d in _log_lines(platform, "booking-web", booking_id) if "started" in str(d["msg"])
        ]
        ended = [
            d
            for d in _log_lines(platform, "booking-worker", booking_id)
            if "ended" in str(d["msg"])
        ]
        if started and ended:
            break
        time.sleep(0.2)
    assert started and ended, "no saga log lines for the booking"
    [start] = started
    assert start["trace_id"] == trace_id
    assert start["saga_type"] == "create_booking" and start["saga_id"]
    assert "message_id" not in start
    # The worker ended it while applying a reply: the reply's message id and type, the same saga.
    [end] = ended
    assert end["saga_id"] == start["saga_id"]
    assert end["trace_id"] == trace_id
    assert end["msg"] == "saga create_booking ended succeeded"
    assert end["message_id"] and str(end["ce_type"]).split(".")[0] in PARTICIPANTS
    assert end["topic"] == "booking.saga.replies"
