"""The Grafana dashboard: every query parses as PromQL and names only metrics and labels the
services define, every metric the services define is on it, and the layout is sound."""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Iterator
from typing import Any

import promql_parser as promql
import pytest
from prometheus_client import REGISTRY
from prometheus_client.metrics import MetricWrapperBase

from devstack import dashboard

# Every module that defines a metric (importing registers them).
METRIC_MODULES = [
    "service_kit.runtime",
    "service_kit.web",
    "messaging.relay",
    "messaging.runner",
    "messaging.jobs",
    "booking.adapters.orchestrator",
    "booking.api.admission",
    "booking.handlers.saga_gauges",
    "notifier.dispatch",
]
# What Prometheus adds when it scrapes, beside the metric's own labels.
SCRAPE_LABELS = {"job", "instance", "namespace", "pod", "container", "endpoint"}
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$service": "booking"}


def _defined() -> dict[str, set[str]]:
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


DEFINED = _defined()
DOC = json.loads(dashboard.TARGET.read_text())
PANELS = [p for p in DOC["panels"] if p["type"] != "row"]
QUERIES = [(p["title"], t) for p in PANELS for t in p["targets"]]


def _walk(node: Any) -> Iterator[Any]:
    yield node
    for attr in ("lhs", "rhs", "expr", "vector_selector"):
        child = getattr(node, attr, None)
        if child is not None and not isinstance(child, str | int | float):
            yield from _walk(child)
    for child in getattr(node, "args", None) or []:
        yield from _walk(child)
    param = getattr(node, "param", None)
    if param is not None:
        yield from _walk(param)


def _parse(expr: str) -> Any:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return promql.parse(expr)


def test_the_file_is_what_the_generator_writes() -> None:
    assert dashboard.TARGET.read_text() == dashboard.render(), "run make dashboard"


@pytest.mark.parametrize(
    ("panel", "target"), QUERIES, ids=[f"{t}-{q['refId']}" for t, q in QUERIES]
)
def test_each_query_names_real_metrics_and_labels(panel: str, target: dict[str, Any]) -> None:
    tree = _parse(target["expr"])
    nodes = list(_walk(tree))
    selectors = [n for n in nodes if isinstance(n, promql.VectorSelector)]
    assert selectors, "a query without a metric"
    known_labels: set[str] = set()
    for selector in selectors:
        assert selector.name in DEFINED, f"{selector.name} is not a metric of the platform"
        labels = DEFINED[selector.name]
        known_labels |= labels
        for matcher in selector.matchers.matchers:
            assert matcher.name in labels | SCRAPE_LABELS, f"{selector.name} has no {matcher.name}"
    grouped: set[str] | None = None
    for node in nodes:
        if isinstance(node, promql.AggregateExpr) and node.modifier is not None:
            by = set(node.modifier.labels)
            assert by <= known_labels | SCRAPE_LABELS, f"grouped by unknown labels {by}"
            grouped = by if grouped is None else grouped
    # The legend names only labels the outermost grouping keeps.
    legend = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", target["legendFormat"]))
    assert grouped is not None and legend <= grouped, (legend, grouped)
    assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}


def test_every_metric_of_the_platform_is_on_the_dashboard() -> None:
    shown = {
        n.name
        for _, target in QUERIES
        for n in _walk(_parse(target["expr"]))
        if isinstance(n, promql.VectorSelector)
    }
    families = {re.sub(r"_(bucket|count|sum)$", "", n) for n in shown}
    missing = {n for n in DEFINED if re.sub(r"_(bucket|count|sum)$", "", n) not in families}
    assert not missing, f"metrics with no panel: {sorted(missing)}"


def test_the_layout_fits_the_grid_without_overlaps() -> None:
    ids = [p["id"] for p in DOC["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in DOC["panels"]:
        g = panel["gridPos"]
        assert g["x"] >= 0 and g["x"] + g["w"] <= 24, panel["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps another panel"
                cells.add((x, y))
    assert DOC["uid"] == "booking-platform" and DOC["schemaVersion"] >= 36
    assert [v["name"] for v in DOC["templating"]["list"]] == ["datasource", "service"]


def test_a_query_naming_an_unknown_metric_or_label_is_caught() -> None:
    """The checks above can fail: a misspelt metric, a label the metric lacks, bad syntax."""
    with pytest.raises(AssertionError, match="not a metric"):
        test_each_query_names_real_metrics_and_labels(
            "x", {"expr": "rate(http_request_total[5m])", "legendFormat": "", "datasource": {}}
        )
    with pytest.raises(AssertionError, match="has no"):
        test_each_query_names_real_metrics_and_labels(
            "x",
            {
                "expr": 'sum(rate(outbox_relay_published_total{topic="x"}[5m]))',
                "legendFormat": "",
                "datasource": {},
            },
        )
    with pytest.raises(ValueError):
        _parse("sum by (service (rate(http_requests_total[5m]))")
