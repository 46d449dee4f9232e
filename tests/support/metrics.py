"""The services' Prometheus metrics as the code defines them, and a walk over a parsed PromQL
expression: what the dashboard and alert tests check every query against."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

import promql_parser as promql
from prometheus_client import REGISTRY
from prometheus_client.metrics import MetricWrapperBase

# Every module that defines a metric (importing registers them).
METRIC_MODULES = [
    "service_kit.runtime",
    "service_kit.web",
    "messaging.relay",
    "messaging.runner",
    "messaging.jobs",
    "booking.adapters.orchestrator",
    "booking.adapters.admission",
    "booking.handlers.saga_gauges",
    "notifier.dispatch",
]
# What Prometheus adds when it scrapes, beside the metric's own labels.
SCRAPE_LABELS = {"job", "instance", "namespace", "pod", "container", "endpoint"}


def defined() -> dict[str, set[str]]:
    """Every sample name the services can expose, with its label names."""
    for module in METRIC_MODULES:
        importlib.import_module(module)
    samples: dict[str, set[str]] = {}
    collectors = {c for c in REGISTRY._collector_to_names if isinstance(c, MetricWrapperBase)}
    assert collectors, "prometheus_client no longer keeps its collectors where this test looks"
    for collector in collectors:
        name, kind = collector._name, collector._type
        labels = set(collector._labelnames)
        if kind == "counter":
            samples[f"{name}_total"] = labels
        elif kind == "histogram":
            samples[f"{name}_bucket"] = labels | {"le"}
            samples[f"{name}_count"] = samples[f"{name}_sum"] = labels
        else:
            samples[name] = labels
    return samples


def walk(node: Any) -> Iterator[Any]:
    yield node
    for attr in ("lhs", "rhs", "expr", "vector_selector"):
        child = getattr(node, attr, None)
        if child is not None and not isinstance(child, str | int | float):
            yield from walk(child)
    for child in getattr(node, "args", None) or []:
        yield from walk(child)
    param = getattr(node, "param", None)
    if param is not None:
        yield from walk(param)


def check_expression(expr: str, defined: dict[str, set[str]]) -> tuple[Any, set[str] | None]:
    """Assert that ``expr`` names only metrics and labels of the platform; the parsed tree and
    the labels its first grouping keeps (None: no grouping)."""
    tree = promql.parse(expr)
    nodes = list(walk(tree))
    selectors = [n for n in nodes if isinstance(n, promql.VectorSelector)]
    assert selectors, "a query without a metric"
    known_labels: set[str] = set()
    for selector in selectors:
        assert selector.name in defined, f"{selector.name} is not a metric of the platform"
        labels = defined[selector.name]
        known_labels |= labels
        for matcher in selector.matchers.matchers:
            assert matcher.name in labels | SCRAPE_LABELS, f"{selector.name} has no {matcher.name}"
    grouped: set[str] | None = None
    for node in nodes:
        if isinstance(node, promql.AggregateExpr) and node.modifier is not None:
            by = set(node.modifier.labels)
            assert by <= known_labels | SCRAPE_LABELS, f"grouped by unknown labels {by}"
            grouped = by if grouped is None else grouped
    return tree, grouped
