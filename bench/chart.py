"""A sweep report as one SVG picture: saga latency and confirmed throughput against the offered
rate, and the CPU each component spent per confirmed booking at each step.

Plain SVG written here (no plotting library): it opens in any browser and diffs as text.
"""

from __future__ import annotations

import math
from html import escape
from typing import Any

W, H = 380, 300  # one panel
PAD_L, PAD_R, PAD_T, PAD_B = 56, 14, 34, 44
PALETTE = (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac", "#1b9e77", "#d95f02", "#7570b3",
)  # fmt: skip


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    for m in (1, 2, 2.5, 5, 10):
        if value <= m * exp:
            return m * exp
    return 10 * exp


class Panel:
    def __init__(self, x0: float, title: str, xlabel: str, ylabel: str) -> None:
        self.x0, self.parts = (
            x0,
            [
                f'<text x="{x0 + W / 2}" y="18" text-anchor="middle" font-weight="bold">'
                f"{escape(title)}</text>",
                f'<text x="{x0 + W / 2}" y="{H - 8}" text-anchor="middle">{escape(xlabel)}</text>',
                f'<text transform="translate({x0 + 14},{H / 2}) rotate(-90)" text-anchor="middle">'
                f"{escape(ylabel)}</text>",
            ],
        )

    def frame(
        self,
        xmax: float,
        ymax: float,
        *,
        log_y: bool = False,
        ymin: float = 1.0,
        x_ticks: bool = True,
    ) -> None:
        self.xmax, self.ymax, self.log_y, self.ymin = xmax, ymax, log_y, ymin
        left, top = self.x0 + PAD_L, PAD_T
        self.parts.append(
            f'<rect x="{left}" y="{top}" width="{W - PAD_L - PAD_R}" height="{H - PAD_T - PAD_B}"'
            ' fill="none" stroke="#888"/>'
        )
        for i in range(6 if x_ticks else 0):
            xv = xmax * i / 5
            x, _ = self.at(xv, self.ymin if log_y else 0)
            self.parts.append(
                f'<text x="{x:.1f}" y="{H - PAD_B + 14}" text-anchor="middle">{xv:g}</text>'
            )
        ticks = (
            [10**e for e in range(int(math.log10(ymin)), int(math.log10(ymax)) + 1)]
            if log_y
            else [ymax * i / 5 for i in range(6)]
        )
        for yv in ticks:
            _, y = self.at(0, yv)
            self.parts.append(
                f'<line x1="{left}" x2="{self.x0 + W - PAD_R}" y1="{y:.1f}" y2="{y:.1f}"'
                ' stroke="#eee"/>'
                f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{yv:g}</text>'
            )

    def at(self, xv: float, yv: float) -> tuple[float, float]:
        x = self.x0 + PAD_L + (W - PAD_L - PAD_R) * xv / self.xmax
        span = H - PAD_T - PAD_B
        if self.log_y:
            frac = (math.log10(max(yv, self.ymin)) - math.log10(self.ymin)) / (
                math.log10(self.ymax) - math.log10(self.ymin)
            )
        else:
            frac = yv / self.ymax
        return x, PAD_T + span * (1 - min(1.0, max(0.0, frac)))

    def line(self, points: list[tuple[float, float]], colour: str, dash: str = "") -> None:
        if not points:
            return
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in (self.at(*p) for p in points))
        style = f' stroke-dasharray="{dash}"' if dash else ""
        self.parts.append(
            f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"{style}/>'
        )
        for x, y in (self.at(*p) for p in points):
            self.parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>')

    def legend(self, items: list[tuple[str, str]]) -> None:
        for i, (label, colour) in enumerate(items):
            x, y = self.x0 + PAD_L + 8, PAD_T + 12 + 14 * i
            self.parts.append(
                f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{colour}"/>'
                f'<text x="{x + 14}" y="{y}">{escape(label)}</text>'
            )


def render(report: dict[str, Any]) -> str:
    steps = report.get("steps") or []
    overload = report.get("overload")
    rates = [s["offered_per_s"] for s in [*steps, *([overload] if overload else [])]]
    xmax = _nice_max(max(rates, default=1.0))
    limit = report.get("config", {}).get("p99_limit_ms", 500.0)

    lat = Panel(0, "Saga latency", "offered bookings/s", "ms (log)")
    finite = [
        v
        for s in steps
        for v in (s["saga_latency_ms"]["p50"], s["saga_latency_ms"]["p99"])
        if v is not None
    ]
    lat.frame(xmax, _nice_max(max([*finite, limit * 2])), log_y=True, ymin=1.0)
    lat.line([(0, limit), (xmax, limit)], "#999", dash="4 3")
    for q, colour in (("p50", PALETTE[0]), ("p99", PALETTE[2])):
        pts = [
            (s["offered_per_s"], s["saga_latency_ms"][q])
            for s in steps
            if s["saga_latency_ms"][q] is not None
        ]
        lat.line(pts, colour)
    lat.legend([("p50", PALETTE[0]), ("p99", PALETTE[2]), (f"p99 limit {limit:g} ms", "#999")])

    thr = Panel(W, "Throughput", "offered bookings/s", "confirmed bookings/s")
    thr.frame(xmax, xmax)
    thr.line([(0, 0), (xmax, xmax)], "#999", dash="4 3")
    thr.line([(s["offered_per_s"], s["confirmed_per_s"]) for s in steps], PALETTE[4])
    held = [(s["offered_per_s"], s["confirmed_per_s"]) for s in steps if not s["why_not"]]
    if held:
        x, y = thr.at(*max(held))
        thr.parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="7" fill="none" stroke="black"/>')
    legend = [("confirmed", PALETTE[4]), ("offered", "#999"), ("ceiling (circled)", "#000")]
    if overload:
        x, y = thr.at(overload["offered_per_s"], overload["confirmed_per_s"])
        thr.parts.append(
            f'<path d="M{x - 5:.1f},{y - 5:.1f} L{x + 5:.1f},{y + 5:.1f} M{x - 5:.1f},{y + 5:.1f}'
            f' L{x + 5:.1f},{y - 5:.1f}" stroke="{PALETTE[2]}" stroke-width="2.5"/>'
        )
        legend.append(("3x the ceiling for a minute", PALETTE[2]))
    thr.legend(legend)

    cpu = Panel(2 * W, "CPU per confirmed booking", "step (offered/s)", "ms of CPU")
    components = sorted(
        {k for s in steps for k in s["cpu_ms_per_booking"] if k != "total"},
        key=lambda k: -max((s["cpu_ms_per_booking"].get(k) or 0) for s in steps),
    )
    totals = [s["cpu_ms_per_booking"]["total"] or 0 for s in steps]
    cpu.frame(max(1, len(steps)), _nice_max(max(totals, default=1.0)), x_ticks=False)
    for i, s in enumerate(steps):
        base = 0.0
        x_left, _ = cpu.at(i + 0.15, 0)
        x_right, _ = cpu.at(i + 0.85, 0)
        for j, k in enumerate(components):
            v = s["cpu_ms_per_booking"].get(k) or 0
            _, y_top = cpu.at(0, base + v)
            _, y_bot = cpu.at(0, base)
            cpu.parts.append(
                f'<rect x="{x_left:.1f}" y="{y_top:.1f}" width="{x_right - x_left:.1f}"'
                f' height="{max(0, y_bot - y_top):.1f}" fill="{PALETTE[j % len(PALETTE)]}">'
                f"<title>{escape(k)}: {v} ms</title></rect>"
            )
            base += v
        cpu.parts.append(
            f'<text x="{(x_left + x_right) / 2:.1f}" y="{H - PAD_B + 26}" text-anchor="middle">'
            f"{s['offered_per_s']:g}</text>"
        )
    legend_x = 3 * W + 10
    legend = [
        f'<rect x="{legend_x}" y="{PAD_T + 14 * j}" width="10" height="10"'
        f' fill="{PALETTE[j % len(PALETTE)]}"/><text x="{legend_x + 14}" y="{PAD_T + 9 + 14 * j}">'
        f"{escape(k)}</text>"
        for j, k in enumerate(components)
    ]
    top = report.get("ceiling")
    idle = report.get("idle", {}).get("machine_percent")
    caption = (
        f"ceiling {top['confirmed_per_s']} confirmed/s at {top['offered_per_s']:g}/s offered"
        if top
        else "no step held"
    ) + (f"; idle {idle} % of the machine" if idle is not None else "")
    width = 3 * W + 150
    body = "".join([*lat.parts, *thr.parts, *cpu.parts, *legend])
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{H + 24}"'
        f' viewBox="0 0 {width} {H + 24}" font-family="sans-serif" font-size="11">'
        f'<rect width="100%" height="100%" fill="white"/>{body}'
        f'<text x="10" y="{H + 16}">{escape(caption)} - {escape(report.get("at", ""))}</text>'
        "</svg>\n"
    )
