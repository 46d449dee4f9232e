"""Span export: OTLP over HTTP (protobuf) when the standard OpenTelemetry variables ask for it.

``OTEL_EXPORTER_OTLP_ENDPOINT`` (``/v1/traces`` is appended) or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (used as is) turns export on; ``OTEL_EXPORTER_OTLP_HEADERS``,
``OTEL_BSP_*`` and ``OTEL_TRACES_SAMPLER`` work as the OpenTelemetry SDK documents them.
``OTEL_SDK_DISABLED=true`` turns it off again. Without an endpoint, spans are made (their ids
travel in ``traceparent``) but never leave the process.
"""

from __future__ import annotations

import logging
import os

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from messaging import tracing

log = logging.getLogger(__name__)

_ENDPOINTS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
_PROTOCOLS = ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")


def export_enabled(environ: os._Environ[str] | dict[str, str] = os.environ) -> bool:
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return any(environ.get(name, "").strip() for name in _ENDPOINTS)


def configure(service: str, process: str) -> None:
    """Set up this process's tracer; export when the environment says so."""
    if not export_enabled():
        tracing.configure(service, process)
        return
    for name in _PROTOCOLS:
        protocol = os.environ.get(name, "").strip()
        if protocol and protocol != "http/protobuf":
            log.warning("%s=%s is not supported; spans go out as http/protobuf", name, protocol)
    tracing.configure(service, process, BatchSpanProcessor(OTLPSpanExporter()))
    # The endpoint is an address, never a credential (those go in OTEL_EXPORTER_OTLP_HEADERS,
    # which is not logged).
    endpoint = next(os.environ[n] for n in _ENDPOINTS if os.environ.get(n, "").strip())
    log.info("exporting spans over OTLP/HTTP to %s", endpoint)
