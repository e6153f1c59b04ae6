"""Rolling windows: percentiles within the histogram's resolution, and old slices expiring."""

from __future__ import annotations

import pytest

from storelink.observability.rolling import RollingStats
from tests.support.clocks import ManualClock as Clock


def test_percentiles_and_error_rate() -> None:
    clock = Clock(0.0)
    stats = RollingStats(clock)
    for i in range(1, 1001):  # 1 ms … 1000 ms, uniformly
        stats.record(i / 1000.0, error=i % 10 == 0)
    s = stats.summary("1m")
    assert s.count == 1000
    assert s.error_rate == pytest.approx(0.1)
    assert s.p50_ms == pytest.approx(500, rel=0.07)
    assert s.p95_ms == pytest.approx(950, rel=0.07)
    assert s.p99_ms == pytest.approx(990, rel=0.07)


def test_windows_forget() -> None:
    clock = Clock(0.0)
    stats = RollingStats(clock)
    stats.record(0.1, error=True)
    clock.now = 61.0
    stats.record(0.2, error=False)
    assert stats.summary("1m").count == 1
    assert stats.summary("5m").count == 2
    clock.now = 3700.0
    assert stats.summary("1h").count == 0
    assert stats.summary("1m").p95_ms is None
