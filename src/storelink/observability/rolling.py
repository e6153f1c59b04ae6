"""Rolling windows of latency and errors for the dashboard: p50/p95/p99 and error rate.

Prometheus answers these over any window, but the dashboard and ``storelink health`` must
answer without a Prometheus server. Each window is a ring of time slices; each slice holds a
count, an error count and a fixed log-spaced latency histogram, so recording is O(1), memory is
bounded, and a percentile is interpolated inside one bucket (about ±6 % of the value).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["WINDOWS", "RollingStats", "WindowSummary"]

# 1 ms … ~120 s, 13 % apart: a percentile read from here is within ~6 % of the truth.
_BOUNDS: tuple[float, ...] = tuple(0.001 * 1.13**i for i in range(int(math.log(120_000) / math.log(1.13)) + 1))

WINDOWS: dict[str, float] = {"1m": 60.0, "5m": 300.0, "1h": 3600.0}


@dataclass(frozen=True, slots=True)
class WindowSummary:
    count: int
    errors: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None

    @property
    def error_rate(self) -> float:
        return self.errors / self.count if self.count else 0.0

    def to_json(self) -> dict[str, float | int | None]:
        return {
            "count": self.count,
            "errors": self.errors,
            "error_rate": round(self.error_rate, 6),
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
            "p99_ms": self.p99_ms,
        }


class _Ring:
    __slots__ = ("counts", "epochs", "errors", "hists", "slice_s")

    def __init__(self, slice_s: float, slices: int) -> None:
        self.slice_s = slice_s
        self.epochs = [-1] * slices
        self.counts = [0] * slices
        self.errors = [0] * slices
        self.hists = [[0] * (len(_BOUNDS) + 1) for _ in range(slices)]

    def record(self, now: float, bucket: int, error: bool) -> None:
        epoch = int(now // self.slice_s)
        pos = epoch % len(self.epochs)
        if self.epochs[pos] != epoch:
            self.epochs[pos] = epoch
            self.counts[pos] = self.errors[pos] = 0
            hist = self.hists[pos]
            for i in range(len(hist)):
                hist[i] = 0
        self.counts[pos] += 1
        self.errors[pos] += error
        self.hists[pos][bucket] += 1

    def accumulate(self, now: float, window_s: float, merged: list[int]) -> tuple[int, int]:
        """Add this ring's slices inside the window to ``merged``; return (count, errors)."""
        current = int(now // self.slice_s)
        oldest = current - int(window_s // self.slice_s) + 1
        count = errors = 0
        for pos, epoch in enumerate(self.epochs):
            if oldest <= epoch <= current and self.counts[pos]:
                count += self.counts[pos]
                errors += self.errors[pos]
                for i, n in enumerate(self.hists[pos]):
                    if n:
                        merged[i] += n
        return count, errors


def _summarise(merged: list[int], count: int, errors: int) -> WindowSummary:
    return WindowSummary(
        count=count,
        errors=errors,
        p50_ms=_quantile_ms(merged, count, 0.50),
        p95_ms=_quantile_ms(merged, count, 0.95),
        p99_ms=_quantile_ms(merged, count, 0.99),
    )


def _quantile_ms(hist: list[int], count: int, q: float) -> float | None:
    if count == 0:
        return None
    rank = q * count
    seen = 0
    for i, n in enumerate(hist):
        if n and seen + n >= rank:
            lower = _BOUNDS[i - 1] if i > 0 else 0.0
            upper = _BOUNDS[i] if i < len(_BOUNDS) else _BOUNDS[-1]
            fraction = (rank - seen) / n
            return round(1000.0 * (lower + (upper - lower) * fraction), 3)
        seen += n
    return round(1000.0 * _BOUNDS[-1], 3)


class RollingStats:
    """Latency and errors over the last minute, five minutes and hour."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._fine = _Ring(10.0, 30)  # 1m and 5m
        self._coarse = _Ring(60.0, 60)  # 1h

    def record(self, latency_s: float, *, error: bool) -> None:
        now = self._clock()
        bucket = bisect.bisect_left(_BOUNDS, latency_s)
        self._fine.record(now, bucket, error)
        self._coarse.record(now, bucket, error)

    def summary(self, window: str) -> WindowSummary:
        return RollingStats.combined([self], window)

    @staticmethod
    def combined(stats: list[RollingStats], window: str) -> WindowSummary:
        """One summary over several series (a connector's operations), merged exactly."""
        window_s = WINDOWS[window]
        merged = [0] * (len(_BOUNDS) + 1)
        count = errors = 0
        for s in stats:
            ring = s._fine if window_s <= 300 else s._coarse
            c, e = ring.accumulate(s._clock(), window_s, merged)
            count += c
            errors += e
        return _summarise(merged, count, errors)
