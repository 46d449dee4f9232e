"""Traces: W3C Trace Context carried from an HTTP request into its outbox rows, from an outbox
row to Kafka (``ce_traceparent``) and from there to the consumer that handles it, and the
OpenTelemetry spans of each hop.

Every hop is a span with a fresh span id under the hop before it:

* the web request (SERVER), whose id is written into the outbox rows of its transaction;
* the relay's publish of each row (PRODUCER), a child of the row's traceparent. The record
  keeps the row's traceparent, not the relay's: a re-published row must be byte-identical;
* the consumer's handling (CONSUMER), a child of the record's traceparent, whose id goes into
  the outbox rows it writes, and so on down the saga.

Spans are recorded only when :func:`configure` was given a span processor
(``service_kit.telemetry`` adds an OTLP exporter when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set).
Otherwise each hop still gets a fresh span id under its parent's trace, but as a bare
non-recording span: a recorded one costs about 15 us, which cut the relay's throughput by
almost a third for spans nobody would see. The provider is this module's own, not
OpenTelemetry's global one, so a library's instrumentation cannot export by accident.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.trace import Span as Span
from opentelemetry.trace import SpanKind as SpanKind
from opentelemetry.trace import Status as Status
from opentelemetry.trace import StatusCode as StatusCode
from opentelemetry.util.types import AttributeValue

from messaging.errors import describe, safe_traceback

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_current: ContextVar[str | None] = ContextVar("traceparent", default=None)

Attributes = Mapping[str, AttributeValue]

_provider = TracerProvider()
_tracer = _provider.get_tracer("booking-platform")
_recording = False


def configure(service: str, process: str, processor: SpanProcessor | None = None) -> None:
    """Name this process's spans (``service.name``; the role in ``service.instance.role``) and
    send them to ``processor``. ``OTEL_RESOURCE_ATTRIBUTES`` and ``OTEL_TRACES_SAMPLER`` (the
    default is ``parentbased_always_on``) apply as OpenTelemetry documents them. What is still
    buffered is exported when the interpreter exits (the SDK's own exit hook)."""
    global _provider, _tracer, _recording
    _provider.shutdown()
    resource = Resource.create(
        {
            "service.name": service,
            "service.namespace": "booking-platform",
            "service.instance.role": process,
        }
    )
    _provider = TracerProvider(resource=resource)
    if processor is not None:
        _provider.add_span_processor(processor)
    _tracer = _provider.get_tracer("booking-platform")
    _recording = processor is not None


def parse(value: str | None) -> tuple[str, str, str] | None:
    """(trace id, parent span id, flags), or None for a missing or malformed header."""
    if not value:
        return None
    match = _TRACEPARENT.match(value.strip().lower())
    if not match:
        return None
    trace_id, span_id, flags = match.groups()
    if trace_id == "0" * 32 or span_id == "0" * 16:
        return None
    return trace_id, span_id, flags


def new_traceparent() -> str:
    """The traceparent of a new, sampled trace's first span."""
    return child_of(None)


def child_of(parent: str | None) -> str:
    """A traceparent for a new span under ``parent`` (a new trace when parent is invalid)."""
    return _format(_child_context(parent))


def current() -> str | None:
    """The traceparent of the span this code runs in (None outside any)."""
    return _current.get()


def current_or_new() -> str:
    value = _current.get()
    if value is None:
        value = new_traceparent()
        _current.set(value)
    return value


def trace_id_of(traceparent: str | None) -> str | None:
    parsed = parse(traceparent)
    return parsed[0] if parsed else None


def traceparent_of(span: Span) -> str:
    return _format(span.get_span_context())


def _format(ctx: trace.SpanContext) -> str:
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


def _parent_context(parent: str | None) -> otel_context.Context:
    """The OpenTelemetry context of a remote parent; an empty one (a new trace) for none."""
    parsed = parse(parent)
    if parsed is None:
        return otel_context.Context()
    trace_id, span_id, flags = parsed
    remote = trace.SpanContext(
        int(trace_id, 16),
        int(span_id, 16),
        is_remote=True,
        trace_flags=trace.TraceFlags(int(flags, 16)),
    )
    return trace.set_span_in_context(trace.NonRecordingSpan(remote))


def _child_context(parent: str | None) -> trace.SpanContext:
    """A fresh span id in ``parent``'s trace (with its flags), or in a new sampled trace."""
    parsed = parse(parent)
    trace_id = int(parsed[0], 16) if parsed else _nonzero(128)
    flags = int(parsed[2], 16) if parsed else trace.TraceFlags.SAMPLED
    return trace.SpanContext(trace_id, _nonzero(64), False, trace.TraceFlags(flags))


def _nonzero(bits: int) -> int:
    while True:
        value = random.getrandbits(bits)
        if value:
            return value


def start(
    name: str,
    parent: str | None,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Attributes | None = None,
) -> Span:
    """A span under ``parent`` that the caller ends (for work that does not nest in a block)."""
    if not _recording:
        return trace.NonRecordingSpan(_child_context(parent))
    return _tracer.start_span(
        name, context=_parent_context(parent), kind=kind, attributes=attributes
    )


def fail(active: Span, exc: BaseException) -> None:
    """Mark a span failed by ``exc`` (recorded as an event with its stack, described safely:
    spans leave the platform for a collector, so they carry no data from the message)."""
    active.add_event(
        "exception",
        {
            "exception.type": type(exc).__name__,
            "exception.message": describe(exc),
            "exception.stacktrace": safe_traceback(exc),
        },
    )
    active.set_status(Status(StatusCode.ERROR, type(exc).__name__))


@contextmanager
def span(
    parent: str | None,
    name: str = "internal",
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Attributes | None = None,
) -> Iterator[Span]:
    """Run a block as a child span of ``parent`` (a new trace for None); outbox rows written
    inside carry it. An exception leaving the block is recorded on the span."""
    active = start(name, parent, kind=kind, attributes=attributes)
    token = _current.set(traceparent_of(active))
    try:
        yield active
    except Exception as exc:
        fail(active, exc)
        raise
    finally:
        _current.reset(token)
        active.end()
