"""Two sweep reports side by side: each figure before and after, and after / before as a ratio
(above 1 is more: better for throughput, worse for latency and CPU)."""

from __future__ import annotations

from typing import Any


def _get(report: dict[str, Any], *path: str | float) -> Any:
    value: Any = report
    for key in path:
        if isinstance(key, float):  # a step, by offered rate
            value = next((s for s in value if s["offered_per_s"] == key), None)
        elif isinstance(value, dict):
            value = value.get(key)
        else:
            return None
        if value is None:
            return None
    return value


def rows(before: dict[str, Any], after: dict[str, Any]) -> list[tuple[str, Any, Any, float | None]]:
    """(figure, before, after, after / before) for every figure both reports have."""
    figures: list[tuple[str, tuple[str | float, ...]]] = [
        ("ceiling confirmed/s", ("ceiling", "confirmed_per_s")),
        ("ceiling offered/s", ("ceiling", "offered_per_s")),
        ("CPU ms/booking at the ceiling", ("ceiling", "cpu_ms_per_booking")),
        ("idle % of the machine", ("idle", "machine_percent")),
        ("overload confirmed/s", ("overload", "confirmed_per_s")),
        ("overload share of ceiling", ("overload", "share_of_ceiling")),
        ("relay rows/s", ("outbox_relay", "rows_per_s")),
    ]
    rates_after = {s["offered_per_s"] for s in after.get("steps") or []}
    for step in before.get("steps") or []:
        rate = float(step["offered_per_s"])
        if rate not in rates_after:
            continue
        figures += [
            (f"{rate:g}/s confirmed/s", ("steps", rate, "confirmed_per_s")),
            (f"{rate:g}/s p50 ms", ("steps", rate, "saga_latency_ms", "p50")),
            (f"{rate:g}/s p99 ms", ("steps", rate, "saga_latency_ms", "p99")),
            (f"{rate:g}/s CPU ms/booking", ("steps", rate, "cpu_ms_per_booking", "total")),
        ]
        for component in sorted(step["cpu_ms_per_booking"]):
            if component != "total":
                figures.append(
                    (
                        f"{rate:g}/s CPU ms/booking {component}",
                        ("steps", rate, "cpu_ms_per_booking", component),
                    )
                )
    out = []
    for name, path in figures:
        a, b = _get(before, *path), _get(after, *path)
        if a is None and b is None:
            continue
        ratio = (
            round(b / a, 2)
            if isinstance(a, int | float) and isinstance(b, int | float) and a
            else None
        )
        out.append((name, a, b, ratio))
    return out


def table(before: dict[str, Any], after: dict[str, Any]) -> str:
    lines = [f"{'figure':<44} {'before':>10} {'after':>10} {'after/before':>13}"]
    for name, a, b, ratio in rows(before, after):
        lines.append(
            f"{name:<44} {a if a is not None else '-':>10} {b if b is not None else '-':>10}"
            f" {ratio if ratio is not None else '-':>13}"
        )
    return "\n".join(lines)
