"""The property quotas: their limits (standard and Analytics 360) and the usage counted against them
per property, in hour and day windows (days end at midnight Pacific)."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

PACIFIC = ZoneInfo("America/Los_Angeles")


@dataclass(frozen=True, slots=True)
class QuotaLimits:
    tokens_per_day: int = 200_000
    tokens_per_hour: int = 40_000
    tokens_per_project_per_hour: int = 14_000
    concurrent: int = 10
    server_errors_per_hour: int = 10
    thresholded_per_hour: int = 120

    @classmethod
    def analytics_360(cls) -> QuotaLimits:
        return cls(2_000_000, 400_000, 140_000, 50, 50, 120)


@dataclass
class _Usage:
    """Tokens spent in the current hour and day windows, per property and category."""

    hour: int = -1
    day: dt.date | None = None
    hour_tokens: int = 0
    day_tokens: int = 0


@dataclass
class _PropertyState:
    in_flight: int = 0
    usage: dict[str, _Usage] = field(default_factory=lambda: defaultdict(_Usage))
    server_errors: Counter[int] = field(default_factory=Counter)  # hour window -> 5xx answered
