"""Span export: OTLP over HTTP (protobuf) when the standard OpenTelemetry variables ask for it.

``OTEL_EXPORTER_OTLP_ENDPOINT`` (``/v1/traces`` is appended) or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (used as is) turns export on; ``OTEL_EXPORTER_OTLP_HEADERS``,
``OTEL_BSP_*`` and ``OTEL_TRACES_SAMPLER`` work as the OpenTelemetry SDK documents them.
``OTEL_SDK_DISABLED=true`` turns it off again. Without an endpoint nothing is recorded; span ids
still travel in ``traceparent``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from messaging import tracing

log = logging.getLogger(__name__)

_ENDPOINTS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
_PROTOCOLS = ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")


def endpoint(environ: Mapping[str, str] = os.environ) -> str | None:
    """Where spans go (the traces-specific variable first), or None when export is off."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    return next((environ[n] for n in _ENDPOINTS if environ.get(n, "").strip()), None)


def configure(service: str, process: str) -> None:
    """Set up this process's tracer; export when the environment says so."""
    target = endpoint()
    if target is None:
        tracing.configure(service, process)
        return
    for name in _PROTOCOLS:
        protocol = os.environ.get(name, "").strip()
        if protocol and protocol != "http/protobuf":
            log.warning("%s=%s is not supported; spans go out as http/protobuf", name, protocol)
    tracing.configure(service, process, BatchSpanProcessor(OTLPSpanExporter()))
    # The endpoint is an address, never a credential (those go in OTEL_EXPORTER_OTLP_HEADERS,
    # which is not logged).
    log.info("exporting spans over OTLP/HTTP to %s", target)
