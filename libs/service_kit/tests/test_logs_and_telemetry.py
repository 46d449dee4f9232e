"""JSON log lines carry the trace and the unit of work's ids; span export follows the standard
OpenTelemetry variables."""

from __future__ import annotations

import json
import logging

import pytest

from messaging import logcontext, tracing
from service_kit import telemetry
from service_kit.logs import JsonFormatter


def _line(message: str, **extra: object) -> dict[str, object]:
    record = logging.LogRecord("saga", logging.INFO, __file__, 1, message, (), None)
    for key, value in extra.items():
        setattr(record, key, value)
    doc: dict[str, object] = json.loads(JsonFormatter("booking").format(record))
    return doc


def test_a_line_carries_the_trace_and_the_scope_fields() -> None:
    parent = tracing.new_traceparent()
    with (
        logcontext.scope(message_id="m-1", topic="booking.saga.replies"),
        tracing.span(parent, "process"),
    ):
        logcontext.add(booking_id="bk-1", saga_id="sg-1")
        doc = _line("saga create_booking ended succeeded")
    assert doc["msg"] == "saga create_booking ended succeeded"
    assert doc["service"] == "booking" and doc["level"] == "INFO"
    assert doc["trace_id"] == tracing.trace_id_of(parent)
    assert {k: doc[k] for k in ("message_id", "topic", "booking_id", "saga_id")} == {
        "message_id": "m-1",
        "topic": "booking.saga.replies",
        "booking_id": "bk-1",
        "saga_id": "sg-1",
    }
    outside = _line("idle")
    assert not {"trace_id", "message_id", "booking_id", "saga_id"} & outside.keys()


def test_a_field_given_to_the_call_wins_over_the_scope() -> None:
    with logcontext.scope(message_id="from-scope"):
        assert _line("x", message_id="from-call")["message_id"] == "from-call"


@pytest.mark.parametrize(
    ("environ", "enabled"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "  "}, False),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "true"},
            False,
        ),
    ],
)
def test_export_is_on_only_with_an_endpoint(environ: dict[str, str], enabled: bool) -> None:
    assert (telemetry.endpoint(environ) is not None) is enabled
