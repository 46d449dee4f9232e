"""The benchmark's own rules: when a step holds, where the knee is, how reports compare, and
that the picture is well-formed SVG. (The numbers come from ``make bench``, never a test.)"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from bench import chart, compare
from bench.__main__ import main, parser
from bench.sweep import Bench, SweepConfig, ceiling, judge, slope
from bench.workload import process_groups


def step(rate: float, confirmed: float, p99: float | None, **kw: Any) -> dict[str, Any]:
    s: dict[str, Any] = {
        "offered_per_s": rate,
        "offered": int(rate * 30),
        "confirmed_per_s": confirmed,
        "refused": 0,
        "errors": 0,
        "saga_latency_ms": {"p50": None if p99 is None else p99 / 3, "p95": p99, "p99": p99},
        "backlog": {"at_end": 0, "growth_per_s": 0.0, "samples": []},
        "cpu_ms_per_booking": {"booking-worker": 10.0, "kafka": 5.0, "total": 15.0},
    }
    s.update(kw)
    s["why_not"] = judge(s, 500)
    return s


def test_a_step_holds_only_within_the_p99_a_flat_backlog_and_few_refusals() -> None:
    assert step(20, 20, 480)["why_not"] == []
    assert "p99 520" in step(20, 20, 520)["why_not"][0]
    assert "without an outcome" in step(20, 18, None)["why_not"][0]
    growing = step(20, 15, 300, backlog={"at_end": 150, "growth_per_s": 5.0, "samples": []})
    assert "backlog grows" in growing["why_not"][0]
    # A backlog that ends large fails even when its slope looks flat (it grew early).
    late = step(20, 15, 300, backlog={"at_end": 100, "growth_per_s": 0.0, "samples": []})
    assert late["why_not"]
    assert step(20, 19, 300, refused=7)["why_not"] == ["7 of 600 refused or failed"]
    assert step(20, 20, 300, refused=6)["why_not"] == []  # 1 %


def test_slope_is_growth_per_second() -> None:
    assert slope([(t, 3 * t + 1) for t in range(10)]) == pytest.approx(3.0)
    assert slope([(0, 5)]) == 0.0
    assert slope([(1, 5), (1, 9)]) == 0.0


def test_the_ceiling_is_the_highest_rate_that_held() -> None:
    steps = [step(5, 5, 50), step(10, 10, 90), step(20, 14, 2000), step(30, 30, 100)]
    top = ceiling(steps)
    assert top is not None and top["offered_per_s"] == 30
    assert ceiling([step(5, 2, 900)]) is None


def test_the_sweep_stops_past_the_knee() -> None:
    bench = Bench({}, "", {}, {}, "", SweepConfig(rates=(5, 10, 20, 30, 40), past_knee=2))
    steps: list[dict[str, Any]] = []
    p99 = {5: 50, 10: 900, 20: 100, 30: 900, 40: 900}
    for rate in bench.rates_until_knee(steps):
        steps.append(step(rate, rate, p99[int(rate)]))
    assert [s["offered_per_s"] for s in steps] == [5, 10, 20, 30]


def test_after_the_knee_the_sweep_bisects_towards_the_ceiling() -> None:
    bench = Bench({}, "", {}, {}, "", SweepConfig(rates=(5, 10, 20), refine=3))
    steps = [step(5, 5, 50), step(10, 10, 90), step(20, 14, 2000)]
    p99 = {15.0: 900, 12.5: 300, 14.0: 700}
    tried = []
    for rate in bench.rates_refining(steps):
        tried.append(rate)
        steps.append(step(rate, rate, p99[rate]))
    assert tried == [15.0, 12.5, 14.0]  # 15 fails, 12.5 holds, then halfway to 15 (rounded)
    top = ceiling(steps)
    assert top is not None and top["offered_per_s"] == 12.5
    # Nothing held: the bisection starts from zero.
    none_held = Bench({}, "", {}, {}, "", SweepConfig(rates=(5,), refine=1))
    assert list(none_held.rates_refining([step(5, 2, 900)])) == [2.5]


def report(ceiling_rate: float, cpu: float, p99: float) -> dict[str, Any]:
    steps = [step(10, 10, p99 / 2), step(20, ceiling_rate, p99)]
    for s in steps:
        s["cpu_ms_per_booking"] = {"kafka": cpu / 2, "postgres": cpu / 2, "total": cpu}
    return {
        "at": "2026-12-04T00:00:00+00:00",
        "config": {"p99_limit_ms": 500},
        "steps": steps,
        "ceiling": ceiling(steps),
        "idle": {"machine_percent": 4.0},
    }


def test_compare_gives_after_over_before() -> None:
    table = {
        name: (a, b, r) for name, a, b, r in compare.rows(report(20, 100, 400), report(20, 25, 200))
    }
    assert table["20/s CPU ms/booking"] == (100, 25, 0.25)
    assert table["20/s p99 ms"] == (400, 200, 0.5)
    assert table["10/s CPU ms/booking kafka"] == (50, 12.5, 0.25)
    assert table["idle % of the machine"] == (4.0, 4.0, 1.0)
    assert "relay rows/s" not in table  # neither report has it


def test_the_picture_is_svg_with_a_bar_per_component_and_step() -> None:
    svg = chart.render(report(20, 100, 400))
    root = ET.fromstring(svg)  # noqa: S314 (our own output)
    rects = [
        e for e in root.iter("{http://www.w3.org/2000/svg}rect") if e.find("{*}title") is not None
    ]
    assert len(rects) == 2 * 2  # two steps, two components
    assert "ceiling 20 confirmed/s" in svg
    # No step held: still a picture, saying so.
    ET.fromstring(chart.render({"steps": [step(5, 1, None)]}))  # noqa: S314


def test_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = parser().parse_args(["sweep", "--rates", "5,10,40", "--step-seconds", "20"])
    assert args.rates == (5.0, 10.0, 40.0) and args.step_seconds == 20
    with pytest.raises(SystemExit):
        parser().parse_args(["sweep", "--rates", "10,5"])
    before, after = tmp_path / "a.json", tmp_path / "b.json"
    before.write_text(json.dumps(report(10, 100, 400)))
    after.write_text(json.dumps(report(30, 20, 100)))
    assert main(["compare", str(before), str(after)]) == 0
    out = capsys.readouterr().out
    assert "ceiling confirmed/s" in out and "3.0" in out
    args = parser().parse_args(["run", "--rate", "8", "--worker-replicas", "2"])
    assert args.worker_replicas == 2
    with pytest.raises(SystemExit):  # more replicas than a topic has partitions would sit idle
        parser().parse_args(["sweep", "--worker-replicas", "7"])


def test_replicas_count_under_their_process() -> None:
    state = {
        "pids": {"booking-worker": 10, "booking-web": 11},
        "replica_pids": {"booking-worker": [20, 21]},
        "kafka_pid": 30,
        "postgres_pid": 40,
    }
    assert process_groups(state) == {
        "booking-worker": [10, 20, 21],
        "booking-web": [11],
        "kafka": [30],
        "postgres": [40],
    }
