"""Small server-rendered SVG line charts: no JavaScript library, no build step.

A chart is a few series of ``(time, value | None)`` points; ``None`` breaks the line (no calls
in that interval). The y axis starts at zero and steps by a round number (1, 2, 2.5 or 5 × 10ⁿ),
each label written with just the digits its step needs, in a unit that fits the range (µs, ms or
s for latency), so no two ticks read alike ("1 ms, 1 ms, 0 ms" was 0.25 ms steps rounded). The x
axis is the requested time range, labelled in local ``HH:MM``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

__all__ = ["Series", "axis_label", "line_chart", "nice_ceiling", "nice_ticks"]

PALETTE = ("#2563eb", "#d97706", "#dc2626", "#059669", "#7c3aed")


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    points: Sequence[tuple[float, float | None]]
    color: str = ""


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10ⁿ at or above ``value`` (1 when there is nothing)."""
    if value <= 0 or math.isnan(value):
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        candidate = step * 10.0**exponent
        if candidate >= value * (1 - 1e-9):
            return candidate
    return 10.0 ** (exponent + 1)


def nice_ticks(value: float, most: int = 5) -> list[float]:
    """Ticks from 0 to the first round step at or above ``value``, at most ``most`` of them,
    equally spaced by 1, 2, 2.5 or 5 × 10ⁿ."""
    step = nice_ceiling(value / (most - 1)) if value > 0 and not math.isnan(value) else 0.25
    count = max(1, math.ceil(value / step - 1e-9)) if value > 0 else 4
    return [round(step * i, 12) for i in range(count + 1)]


def _decimals(step: float) -> int:
    """Decimals that tell ticks ``step`` apart (2.5 needs one, 0.25 two, 5 none)."""
    for digits in range(7):
        if abs(round(step, digits) - step) < 1e-9 * max(1.0, step):
            return digits
    return 6


def axis_label(value: float, step: float, unit: str, top: float | None = None) -> str:
    """A tick's label: ``unit`` "ms" (shown as µs, ms or s, whichever suits the axis's ``top``),
    "%", or anything else appended as it is; as many decimals as the step needs."""
    top = step if top is None else top
    if unit == "ms":
        if top >= 2000:
            value, step, unit = value / 1000, step / 1000, "s"
        elif top < 1:
            value, step, unit = value * 1000, step * 1000, "µs"
    digits = _decimals(step)
    return f"{value:,.{digits}f} {unit}".rstrip() if unit else f"{value:,.{digits}f}"


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower())


def _clock_label(ts: float, span_s: float) -> str:
    fmt = "%H:%M" if span_s <= 2 * 86_400 else "%d %b"
    return time.strftime(fmt, time.localtime(ts))


def line_chart(
    series: Sequence[Series],
    *,
    start: float,
    end: float,
    title: str,
    unit: str = "",
    width: int = 560,
    height: int = 180,
    empty_note: str = "No calls in this range yet.",
) -> Markup:
    left, right, top, bottom = 64, 12, 22, 26
    plot_w, plot_h = width - left - right, height - top - bottom
    span = max(end - start, 1.0)
    values = [v for s in series for _, v in s.points if v is not None]
    ticks = nice_ticks(max(values) if values else 0.0)
    y_max, step = ticks[-1], ticks[1] - ticks[0]

    def x(ts: float) -> float:
        return left + plot_w * min(max((ts - start) / span, 0.0), 1.0)

    def y(v: float) -> float:
        return top + plot_h * (1.0 - min(max(v / y_max, 0.0), 1.0))

    # What the chart drew, for tests that hold it against the page's figures: points with a value,
    # and each series' largest value.
    drawn = " ".join(
        f'data-max-{_slug(s.name)}="{max(v for _, v in s.points if v is not None):g}"'
        for s in series
        if any(v is not None for _, v in s.points)
    )
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="{escape(title)}" data-points="{len(values)}" {drawn} xmlns="http://www.w3.org/2000/svg">',
        f'<text class="chart-title" x="{left}" y="14">{escape(title)}</text>',
    ]
    for v in ticks:  # horizontal grid and y labels
        gy = y(v)
        label = escape(axis_label(v, step, unit, y_max))
        parts.append(f'<line class="grid" x1="{left}" x2="{left + plot_w}" y1="{gy:.1f}" y2="{gy:.1f}"/>')
        parts.append(f'<text class="axis" x="{left - 6}" y="{gy + 4:.1f}" text-anchor="end">{label}</text>')
    for i in range(5):  # x labels
        ts = start + span * i / 4
        anchor = "start" if i == 0 else ("end" if i == 4 else "middle")
        parts.append(
            f'<text class="axis" x="{x(ts):.1f}" y="{height - 8}" text-anchor="{anchor}">'
            f"{escape(_clock_label(ts, span))}</text>"
        )
    for index, s in enumerate(series):
        color = s.color or PALETTE[index % len(PALETTE)]
        runs: list[list[tuple[float, float]]] = [[]]
        for ts, value in s.points:
            if value is None:
                if runs[-1]:
                    runs.append([])
                continue
            runs[-1].append((x(ts), y(value)))
        for run in runs:
            if len(run) == 1:
                px, py = run[0]
                parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="2.5" fill="{color}"/>')
            elif run:
                coords = " ".join(f"{px:.1f},{py:.1f}" for px, py in run)
                parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.8" points="{coords}"/>')
        lx = left + 8 + index * 90
        parts.append(f'<rect x="{lx}" y="{top + 4}" width="10" height="3" fill="{color}"/>')
        parts.append(f'<text class="legend" x="{lx + 14}" y="{top + 9}">{escape(s.name)}</text>')
    if not values:
        parts.append(
            f'<text class="empty" x="{left + plot_w / 2:.1f}" y="{top + plot_h / 2:.1f}" '
            f'text-anchor="middle">{escape(empty_note)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704  (every interpolated text above is escaped)
