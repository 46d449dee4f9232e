"""The Grafana dashboard of the platform, written to ``deploy/helm/booking-platform/files/
grafana-dashboard.json`` (import it into Grafana, or let the chart ship it as a ConfigMap for
Grafana's dashboard sidecar).

It is written from the panel list below rather than by hand so the layout stays tidy and every
query names metrics and labels the code really has (``tests/deploy/test_dashboard.py`` parses
each query and checks it against the services' metric definitions).

``python -m devstack.dashboard``          write the file
``python -m devstack.dashboard --check``  exit 1 when it is stale (``make lint``)
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import Any

from devstack.generated import write_or_check
from devstack.kafka import REPO_ROOT

TARGET = REPO_ROOT / "deploy" / "helm" / "booking-platform" / "files" / "grafana-dashboard.json"
UID = "booking-platform"
_DS = {"type": "prometheus", "uid": "${datasource}"}
_RATE = "$__rate_interval"
# The service picker filters every panel: HTTP and relay metrics by their service label,
# consumer metrics by the worker's group name (<service>-worker).
_SVC = 'service=~"$service"'
_WORKER = 'consumer=~"($service)-worker"'


@dataclass(frozen=True)
class Panel:
    title: str
    queries: list[tuple[str, str]]  # (PromQL, legend)
    unit: str = "short"
    description: str = ""
    kind: str = "timeseries"
    width: int = 8
    thresholds: list[tuple[float, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Row:
    title: str
    panels: list[Panel]


def _quantile(q: float, metric: str, selector: str, by: str) -> str:
    return (
        f"histogram_quantile({q}, sum by ({by}, le) (rate({metric}_bucket{{{selector}}}[{_RATE}])))"
    )


ROWS = [
    Row(
        "API",
        [
            Panel(
                "Requests by status",
                [
                    (
                        f"sum by (service, status) (rate(http_requests_total{{{_SVC}}}[{_RATE}]))",
                        "{{service}} {{status}}",
                    )
                ],
                unit="reqps",
            ),
            Panel(
                "Server errors (5xx share)",
                [
                    (
                        f'sum by (service) (rate(http_requests_total{{{_SVC},status=~"5.."}}[{_RATE}]))'
                        f" / sum by (service) (rate(http_requests_total{{{_SVC}}}[{_RATE}]))",
                        "{{service}}",
                    )
                ],
                unit="percentunit",
                thresholds=[(0.01, "red")],
            ),
            Panel(
                "Latency p95 by route",
                [
                    (
                        _quantile(0.95, "http_request_seconds", _SVC, "service, method, route"),
                        "{{service}} {{method}} {{route}}",
                    )
                ],
                unit="s",
            ),
        ],
    ),
    Row(
        "Sagas",
        [
            Panel(
                "Sagas ended, by type and outcome",
                [
                    (
                        f"sum by (saga_type, outcome) (rate(saga_duration_seconds_count[{_RATE}]))",
                        "{{saga_type}} {{outcome}}",
                    )
                ],
                unit="ops",
            ),
            Panel(
                "Saga duration p50 / p95 (succeeded)",
                [
                    (
                        _quantile(0.5, "saga_duration_seconds", 'outcome="succeeded"', "saga_type"),
                        "p50 {{saga_type}}",
                    ),
                    (
                        _quantile(
                            0.95, "saga_duration_seconds", 'outcome="succeeded"', "saga_type"
                        ),
                        "p95 {{saga_type}}",
                    ),
                ],
                unit="s",
            ),
            Panel(
                "Sagas not succeeding (last hour)",
                [
                    (
                        "sum by (saga_type, outcome) (increase("
                        'saga_duration_seconds_count{outcome!="succeeded"}[1h]))',
                        "{{saga_type}} {{outcome}}",
                    )
                ],
                kind="stat",
                description="Failed or compensated sagas; parked ones show in bpctl saga show.",
            ),
        ],
    ),
    Row(
        "Outbox",
        [
            Panel(
                "Unsent rows",
                [(f"max by (service) (outbox_pending_rows{{{_SVC}}})", "{{service}}")],
                description="Rows committed but not yet on Kafka. Runbook: a growing outbox.",
            ),
            Panel(
                "Oldest unsent row",
                [
                    (
                        f"max by (service) (outbox_oldest_pending_age_seconds{{{_SVC}}})",
                        "{{service}}",
                    )
                ],
                unit="s",
                thresholds=[(30, "orange"), (120, "red")],
            ),
            Panel(
                "Published",
                [
                    (
                        f"sum by (service) (rate(outbox_relay_published_total{{{_SVC}}}[{_RATE}]))",
                        "{{service}}",
                    ),
                ],
                unit="ops",
            ),
            Panel(
                "Relay batch p95",
                [(_quantile(0.95, "outbox_relay_batch_seconds", _SVC, "service"), "{{service}}")],
                unit="s",
            ),
        ],
    ),
    Row(
        "Consumers",
        [
            Panel(
                "Lag by topic",
                [
                    (
                        # Every member of a group reports the whole group's lag: max, then sum.
                        "sum by (consumer, topic) (max by (consumer, topic, partition) "
                        f"(consumer_lag_messages{{{_WORKER}}}))",
                        "{{consumer}} {{topic}}",
                    )
                ],
                thresholds=[(1000, "orange"), (10000, "red")],
            ),
            Panel(
                "Messages by outcome",
                [
                    (
                        "sum by (consumer, outcome) "
                        f"(rate(consumer_messages_total{{{_WORKER}}}[{_RATE}]))",
                        "{{consumer}} {{outcome}}",
                    )
                ],
                unit="ops",
            ),
            Panel(
                "Handling p95",
                [
                    (
                        _quantile(0.95, "consumer_handle_seconds", _WORKER, "consumer, topic"),
                        "{{consumer}} {{topic}}",
                    )
                ],
                unit="s",
            ),
            Panel(
                "Records per transaction",
                [
                    (
                        f"sum by (consumer) (rate(consumer_batch_records_sum{{{_WORKER}}}[{_RATE}]))"
                        " / sum by (consumer) "
                        f"(rate(consumer_batch_records_count{{{_WORKER}}}[{_RATE}]))",
                        "{{consumer}} mean",
                    ),
                    (
                        _quantile(0.95, "consumer_batch_records", _WORKER, "consumer"),
                        "{{consumer}} p95",
                    ),
                ],
                description="How many already-fetched records share one transaction (at most "
                "<SERVICE>_CONSUMER_MAX_BATCH). Near 1 when the platform keeps up; it grows "
                "under load, which is what keeps the cost per record down.",
            ),
        ],
    ),
    Row(
        "Stuck work",
        [
            Panel(
                "Parked sagas",
                [
                    (
                        "sum by (saga_type) (max without (instance, pod) (sagas_parked))",
                        "{{saga_type}}",
                    )
                ],
                description="Sagas waiting for an operator (bpctl saga parked, bpctl saga retry). "
                "Runbook: a stuck or parked saga.",
                thresholds=[(1, "orange")],
            ),
            Panel(
                "Overdue sagas",
                [
                    ("max by (job) (sagas_overdue)", "{{job}} overdue"),
                    ("max by (job) (sagas_oldest_overdue_seconds)", "{{job}} oldest overdue (s)"),
                ],
                description="Running sagas past their step deadline by more than two step "
                "timeouts: no booking worker is running their timers.",
                thresholds=[(1, "red")],
            ),
            Panel(
                "Sagas in flight",
                [
                    ("max by (job) (sagas_in_flight)", "{{job}} in flight"),
                    ("max by (job) (sagas_in_flight_late)", "{{job}} late"),
                ],
                description="What admission control counts: past BOOKING_MAX_IN_FLIGHT_SAGAS "
                "in flight, or BOOKING_ADMISSION_MAX_LATE_SAGAS in flight for longer than "
                "BOOKING_ADMISSION_LATE_AFTER_S, POST /bookings answers 503.",
            ),
            Panel(
                "Sweep items failed, parked",
                [
                    (f"sum by (job) (rate(sweep_item_failures_total[{_RATE}]))", "{{job}} failed"),
                    (
                        f"sum by (job) (increase(sweep_items_parked_total[{_RATE}]))",
                        "{{job}} parked",
                    ),
                ],
                unit="ops",
            ),
            Panel(
                "Stalled partitions",
                [
                    (
                        f"sum by (consumer, topic) (consumer_stalled_partitions{{{_WORKER}}})",
                        "{{consumer}} {{topic}}",
                    )
                ],
                description="Partitions whose current message fails transiently and is retried "
                "in place (a database or broker outage). Runbook: a stalled consumer.",
                thresholds=[(1, "orange")],
            ),
            Panel(
                "Transient failures",
                [
                    (
                        "sum by (consumer, topic) "
                        f"(rate(consumer_transient_failures_total{{{_WORKER}}}[{_RATE}]))",
                        "{{consumer}} {{topic}}",
                    )
                ],
                unit="ops",
            ),
            Panel(
                "Outbox rows set aside",
                [(f"max by (service) (outbox_set_aside_rows{{{_SVC}}})", "{{service}}")],
                description="Rows Kafka kept refusing; each holds back its key. Runbook: "
                "outbox rows set aside.",
                thresholds=[(1, "red")],
            ),
            Panel(
                "Outbox rows refused, purged",
                [
                    (
                        f"sum by (service) (rate(outbox_relay_refused_total{{{_SVC}}}[{_RATE}]))",
                        "{{service}} refused",
                    ),
                    (
                        f"sum by (service) (rate(outbox_relay_purged_total{{{_SVC}}}[{_RATE}]))",
                        "{{service}} purged",
                    ),
                ],
                unit="ops",
            ),
        ],
    ),
    Row(
        "Dead letters",
        [
            Panel(
                "Dead-letter topic depth",
                [('max by (topic) (dlq_depth_messages{topic=~".+"})', "{{topic}}")],
                description="Messages held in each .dlq topic. Runbook: a filling DLQ.",
                thresholds=[(1, "red")],
                width=12,
            ),
            Panel(
                "Dead-lettered",
                [
                    (
                        f"sum by (consumer, topic) (rate(dlq_messages_total{{{_WORKER}}}[{_RATE}]))",
                        "{{consumer}} {{topic}}",
                    )
                ],
                unit="ops",
                width=12,
            ),
        ],
    ),
    Row(
        "Notifications",
        [
            Panel(
                "Delivery attempts by verdict",
                [
                    (
                        "sum by (channel, verdict) "
                        f'(rate(notifier_delivery_attempts_total{{channel=~".+"}}[{_RATE}]))',
                        "{{channel}} {{verdict}}",
                    )
                ],
                unit="ops",
                width=12,
            ),
            Panel(
                "Delivery attempt p95",
                [
                    (
                        _quantile(
                            0.95, "notifier_delivery_attempt_seconds", 'channel=~".+"', "channel"
                        ),
                        "{{channel}}",
                    )
                ],
                unit="s",
                width=12,
            ),
        ],
    ),
]


def _panel(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [{"color": "green", "value": None}]
    steps += [{"color": color, "value": value} for value, color in panel.thresholds]
    doc: dict[str, Any] = {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "datasource": _DS,
        "gridPos": {"h": 8, "w": panel.width, "x": x, "y": y},
        "targets": [
            {"refId": chr(ord("A") + i), "datasource": _DS, "expr": expr, "legendFormat": legend}
            for i, (expr, legend) in enumerate(panel.queries)
        ],
        "fieldConfig": {
            "defaults": {
                "unit": panel.unit,
                "thresholds": {"mode": "absolute", "steps": steps},
            },
            "overrides": [],
        },
    }
    if panel.description:
        doc["description"] = panel.description
    if panel.kind == "timeseries":
        doc["fieldConfig"]["defaults"]["custom"] = {
            "thresholdsStyle": {"mode": "line" if panel.thresholds else "off"}
        }
        doc["options"] = {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        }
    else:
        doc["options"] = {"reduceOptions": {"calcs": ["lastNotNull"]}, "colorMode": "value"}
    return doc


def dashboard() -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    y = 0
    for row in ROWS:
        panels.append(
            {
                "id": len(panels) + 1,
                "type": "row",
                "title": row.title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
                "panels": [],
            }
        )
        y += 1
        x = 0
        for panel in row.panels:
            if x + panel.width > 24:
                x, y = 0, y + 8
            panels.append(_panel(panel, len(panels) + 1, x, y))
            x += panel.width
        y += 8
    return {
        "__requires": [
            {"type": "grafana", "id": "grafana", "name": "Grafana", "version": "10.0.0"},
            {"type": "datasource", "id": "prometheus", "name": "Prometheus", "version": "1.0.0"},
        ],
        "uid": UID,
        "title": "Booking platform",
        "description": "API, sagas, outbox, consumers, dead letters and notifications.",
        "tags": ["booking-platform"],
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "graphTooltip": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "timezone": "",
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Data source",
                    "type": "datasource",
                    "query": "prometheus",
                    "refresh": 1,
                },
                {
                    "name": "service",
                    "label": "Service",
                    "type": "query",
                    "datasource": _DS,
                    "definition": "label_values(http_requests_total, service)",
                    "query": {
                        "query": "label_values(http_requests_total, service)",
                        "refId": "service",
                    },
                    "includeAll": True,
                    "multi": True,
                    "allValue": ".*",
                    "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
                    "refresh": 2,
                    "sort": 1,
                },
            ]
        },
        "annotations": {"list": []},
        "links": [],
        "panels": panels,
    }


def render() -> str:
    return json.dumps(dashboard(), indent=2) + "\n"


def main(argv: list[str]) -> int:
    return write_or_check(TARGET, render(), argv, "dashboard")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
