"""The alerting rules: each expression parses as PromQL and names only metrics and labels the
services define, each summary names only labels its expression keeps, each alert is in the
operations guide with the runbook section it points to, and the chart ships them as a
PrometheusRule."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from devstack import alerts
from tests.deploy.test_chart import of_kind, render
from tests.support.metrics import check_expression, defined

DEFINED = defined()
OPERATIONS = (Path(__file__).resolve().parents[2] / "docs" / "OPERATIONS.md").read_text()


def test_the_file_is_what_the_generator_writes() -> None:
    assert alerts.TARGET.read_text() == alerts.render(), "run make alerts"


@pytest.mark.parametrize("alert", alerts.ALERTS, ids=[a.name for a in alerts.ALERTS])
def test_each_alert_names_real_metrics_and_its_runbook(alert: alerts.Alert) -> None:
    _, grouped = check_expression(alert.expr, DEFINED)
    named = set(re.findall(r"\$labels\.(\w+)", alert.summary))
    assert named <= (grouped or set()), (named, grouped)
    assert f"`{alert.name}`" in OPERATIONS, f"{alert.name} is not in docs/OPERATIONS.md"
    assert re.search(rf"^#+ .*{re.escape(alert.runbook)}", OPERATIONS, re.I | re.M), (
        f"no runbook section '{alert.runbook}' in docs/OPERATIONS.md"
    )
    assert re.fullmatch(r"\d+[smh]", alert.wait) and alert.severity in ("warning", "critical")


def test_an_alert_on_an_unknown_metric_is_caught() -> None:
    with pytest.raises(AssertionError, match="not a metric"):
        check_expression("sum(outbox_rows_lost_forever) > 0", DEFINED)


def test_the_chart_ships_the_rules_as_a_prometheus_rule_when_asked() -> None:
    assert of_kind(render(), "PrometheusRule") == []
    [rule] = of_kind(
        render(
            sets=(
                "metrics.prometheusRule.enabled=true",
                "metrics.prometheusRule.labels.release=kps",
            )
        ),
        "PrometheusRule",
    )
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["labels"]["release"] == "kps"
    assert rule["spec"] == yaml.safe_load(alerts.render())
