"""Spans under a remote traceparent: fresh ids, the right parent, failures recorded, and the
traceparent that outbox rows written inside the span carry."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from messaging import logcontext, tracing


@pytest.fixture
def exported() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing.configure("unit", "test", SimpleSpanProcessor(exporter))
    yield exporter
    tracing.configure("unit", "test")


def test_a_span_is_a_child_of_the_remote_parent(exported: InMemorySpanExporter) -> None:
    parent = tracing.new_traceparent()
    trace_id, parent_span, _ = tracing.parse(parent) or ("", "", "")
    assert tracing.current() is None
    with tracing.span(parent, "process x", kind=tracing.SpanKind.CONSUMER) as span:
        inside = tracing.current()
        assert inside == tracing.traceparent_of(span)
        assert tracing.trace_id_of(inside) == trace_id
        assert inside is not None and inside.split("-")[2] != parent_span
    assert tracing.current() is None
    [done] = exported.get_finished_spans()
    assert done.name == "process x" and done.kind is tracing.SpanKind.CONSUMER
    assert done.parent is not None and done.parent.is_remote
    assert f"{done.parent.span_id:016x}" == parent_span
    assert f"{done.context.trace_id:032x}" == trace_id
    assert done.resource.attributes["service.name"] == "unit"
    assert done.resource.attributes["service.instance.role"] == "test"


@pytest.mark.parametrize("parent", [None, "", "garbage", "00-" + "0" * 32 + "-" + "1" * 16 + "-01"])
def test_no_or_a_malformed_parent_starts_a_trace(
    exported: InMemorySpanExporter, parent: str | None
) -> None:
    with tracing.span(parent, "root"):
        pass
    [done] = exported.get_finished_spans()
    assert done.parent is None


def test_an_exception_is_recorded_and_raised(exported: InMemorySpanExporter) -> None:
    with pytest.raises(ValueError), tracing.span(tracing.new_traceparent(), "fails"):
        raise ValueError("boom")
    [done] = exported.get_finished_spans()
    assert done.status.status_code is StatusCode.ERROR
    assert [e.name for e in done.events] == ["exception"]
    assert tracing.current() is None


def test_an_unsampled_trace_stays_unsampled_and_is_not_exported(
    exported: InMemorySpanExporter,
) -> None:
    parent = tracing.new_traceparent()[:-2] + "00"
    with tracing.span(parent, "quiet"):
        inside = tracing.current()
    assert inside is not None and inside.endswith("-00")
    assert inside.split("-")[2] != parent.split("-")[2]  # still a fresh span id
    assert exported.get_finished_spans() == ()


def test_log_fields_live_as_long_as_their_scope() -> None:
    assert dict(logcontext.fields()) == {}
    with logcontext.scope(message_id="m1", booking_id=None):
        logcontext.add(booking_id="b1")
        with logcontext.scope(saga_id="s1"):
            assert dict(logcontext.fields()) == {
                "message_id": "m1",
                "booking_id": "b1",
                "saga_id": "s1",
            }
        assert dict(logcontext.fields()) == {"message_id": "m1", "booking_id": "b1"}
    assert dict(logcontext.fields()) == {}


def test_without_an_exporter_spans_are_bare_but_ids_still_fresh() -> None:
    tracing.configure("unit", "test")  # no processor: nothing is recorded
    parent = tracing.new_traceparent()
    with tracing.span(parent, "quiet") as span:
        inside = tracing.current()
        assert not span.is_recording()
    assert inside is not None
    assert tracing.trace_id_of(inside) == tracing.trace_id_of(parent)
    assert inside.split("-")[2] != parent.split("-")[2]
    assert tracing.parse(inside) is not None
    with tracing.span(None) as root:
        assert tracing.trace_id_of(tracing.traceparent_of(root)) != tracing.trace_id_of(parent)
        assert tracing.traceparent_of(root).endswith("-01")
    unsampled = parent[:-2] + "00"
    with tracing.span(unsampled):
        assert (tracing.current() or "").endswith("-00")
