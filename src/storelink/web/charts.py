"""Small server-rendered SVG line charts: no JavaScript library, no build step.

A chart is a few series of ``(time, value | None)`` points; ``None`` breaks the line (no calls
in that interval). The y axis starts at zero and ends on a round number; the x axis is the
requested time range, labelled in local ``HH:MM``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

__all__ = ["Series", "line_chart", "nice_ceiling"]

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


def _clock_label(ts: float, span_s: float) -> str:
    fmt = "%H:%M" if span_s <= 2 * 86_400 else "%d %b"
    return time.strftime(fmt, time.localtime(ts))


def line_chart(
    series: Sequence[Series],
    *,
    start: float,
    end: float,
    title: str,
    unit: Callable[[float], str] = lambda v: f"{v:g}",
    width: int = 560,
    height: int = 180,
    empty_note: str = "No calls in this range yet.",
) -> Markup:
    left, right, top, bottom = 56, 12, 22, 26
    plot_w, plot_h = width - left - right, height - top - bottom
    span = max(end - start, 1.0)
    values = [v for s in series for _, v in s.points if v is not None]
    y_max = nice_ceiling(max(values) if values else 0.0)

    def x(ts: float) -> float:
        return left + plot_w * min(max((ts - start) / span, 0.0), 1.0)

    def y(v: float) -> float:
        return top + plot_h * (1.0 - min(max(v / y_max, 0.0), 1.0))

    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f'<text class="chart-title" x="{left}" y="14">{escape(title)}</text>',
    ]
    for i in range(5):  # horizontal grid and y labels
        v = y_max * i / 4
        gy = y(v)
        parts.append(f'<line class="grid" x1="{left}" x2="{left + plot_w}" y1="{gy:.1f}" y2="{gy:.1f}"/>')
        parts.append(f'<text class="axis" x="{left - 6}" y="{gy + 4:.1f}" text-anchor="end">{escape(unit(v))}</text>')
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
