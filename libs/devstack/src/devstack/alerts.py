"""The platform's alerts, as Prometheus alerting rules, written to ``deploy/helm/booking-platform/
files/prometheus-rules.yaml``: the chart ships them as a PrometheusRule (``metrics.prometheusRule
.enabled``), and any other Prometheus can load the file as it is.

They are the alerts ``docs/OPERATIONS.md`` describes, each with the runbook section it points
to. Written from the list below so every expression names metrics and labels the code really
has (``tests/deploy/test_alerts.py`` parses each one and checks it against the services' metric
definitions, and that the operations guide lists each alert).

``python -m devstack.alerts``          write the file
``python -m devstack.alerts --check``  exit 1 when it is stale (``make lint``)
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import yaml

from devstack.generated import write_or_check
from devstack.kafka import REPO_ROOT

TARGET = REPO_ROOT / "deploy" / "helm" / "booking-platform" / "files" / "prometheus-rules.yaml"
RUNBOOKS = "docs/OPERATIONS.md"


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    summary: str
    runbook: str  # the section of docs/OPERATIONS.md to follow
    wait: str = "5m"  # how long the condition holds before the alert fires
    severity: str = "warning"


ALERTS = [
    Alert(
        "OutboxNotDraining",
        "max by (service) (outbox_oldest_pending_age_seconds) > 60",
        "{{ $labels.service }}: the oldest unsent outbox row is over a minute old",
        "the outbox grows",
        wait="2m",
        severity="critical",
    ),
    Alert(
        "OutboxRowsSetAside",
        "max by (service) (outbox_set_aside_rows) > 0",
        "{{ $labels.service }}: outbox rows Kafka refuses were set aside",
        "outbox rows set aside",
        wait="0m",
    ),
    Alert(
        "ConsumerStalled",
        "max by (consumer, topic) (consumer_stalled_partitions) > 0",
        "{{ $labels.consumer }} on {{ $labels.topic }}: a partition's message keeps failing",
        "a consumer is stalled",
        wait="2m",
        severity="critical",
    ),
    Alert(
        "ConsumerLagGrowing",
        "max by (consumer, topic) (deriv(consumer_lag_messages[10m])) > 0"
        " and max by (consumer, topic) (consumer_lag_messages) > 100",
        "{{ $labels.consumer }} on {{ $labels.topic }}: the lag has grown for 10 minutes",
        "a consumer is stalled",
        wait="10m",
    ),
    Alert(
        "DeadLetters",
        "sum by (topic) (increase(dlq_messages_total[10m])) > 0",
        "{{ $labels.topic }}: messages were dead-lettered",
        "a dead-letter topic fills",
        wait="0m",
    ),
    Alert(
        "SagasParked",
        "sum(sagas_parked) > 0",
        "sagas are parked and wait for an operator",
        "a saga is stuck or parked",
        wait="0m",
    ),
    Alert(
        "SagasOverdue",
        "max(sagas_overdue) > 0",
        "sagas are past their step deadline",
        "a saga is stuck or parked",
        wait="2m",
        severity="critical",
    ),
    Alert(
        "AdmissionRefusing",
        'sum(rate(http_requests_total{service="booking", route="/api/v1/bookings",'
        ' status="503"}[5m])) > 0',
        "booking requests are refused while sagas back up",
        "a consumer is stalled",
    ),
    Alert(
        "SweepItemsParked",
        "sum by (job) (increase(sweep_items_parked_total[1h])) > 0",
        "{{ $labels.job }}: a periodic job parked items it could not handle",
        "a saga is stuck or parked",
        wait="0m",
    ),
    Alert(
        "SagasFailing",
        'sum(rate(saga_duration_seconds_count{outcome="failed"}[15m]))'
        " / sum(rate(saga_duration_seconds_count[15m])) > 0.2",
        "more than a fifth of the sagas that ended failed",
        "a saga is stuck or parked",
        wait="15m",
    ),
]


def rules() -> dict[str, object]:
    return {
        "groups": [
            {
                "name": "booking-platform",
                "rules": [
                    {
                        "alert": a.name,
                        "expr": a.expr,
                        "for": a.wait,
                        "labels": {"severity": a.severity},
                        "annotations": {
                            "summary": a.summary,
                            "runbook": f"{RUNBOOKS}, '{a.runbook}'",
                        },
                    }
                    for a in ALERTS
                ],
            }
        ]
    }


def render() -> str:
    head = "# Written by `make alerts` from libs/devstack/src/devstack/alerts.py: do not edit.\n"
    return head + yaml.safe_dump(rules(), sort_keys=False, width=100)


def main(argv: list[str]) -> int:
    return write_or_check(TARGET, render(), argv, "alerts")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
