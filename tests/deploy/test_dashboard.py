"""The Grafana dashboard: every query parses as PromQL and names only metrics and labels the
services define, every metric the services define is on it, and the layout is sound."""

from __future__ import annotations

import json
import re
from typing import Any

import promql_parser as promql
import pytest

from devstack import dashboard
from tests.support.metrics import check_expression, defined, walk

GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$service": "booking"}
DEFINED = defined()
DOC = json.loads(dashboard.TARGET.read_text())
PANELS = [p for p in DOC["panels"] if p["type"] != "row"]
QUERIES = [(p["title"], t) for p in PANELS for t in p["targets"]]


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
    expr = target["expr"]
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    _, grouped = check_expression(expr, DEFINED)
    # The legend names only labels the outermost grouping keeps.
    legend = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", target["legendFormat"]))
    assert grouped is not None and legend <= grouped, (legend, grouped)
    assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}


def test_every_metric_of_the_platform_is_on_the_dashboard() -> None:
    shown = {
        n.name
        for _, target in QUERIES
        for n in walk(_parse(target["expr"]))
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
