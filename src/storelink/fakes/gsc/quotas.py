"""The fake's quotas: request windows per category (Search Analytics, URL inspection, the rest) and
the short-term Search Analytics load budget, with the refusals Search Console answers."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from storelink.fakes.google_auth import google_error


@dataclass(frozen=True, slots=True)
class _Limit:
    per_window: int
    window_s: float


def default_limits() -> dict[str, tuple[_Limit, ...]]:
    """Search Analytics queries per minute per site; URL inspections per minute and per day per site;
    other requests per minute and per second per user."""
    return {
        "search_analytics": (_Limit(1200, 60.0),),
        "inspection": (_Limit(600, 60.0), _Limit(2000, 86_400.0)),
        "other": (_Limit(200, 60.0), _Limit(20, 1.0)),
    }


def take(
    category: str,
    limits: tuple[_Limit, ...],
    windows: dict[tuple[str, float, int], int],
    refused: Counter[str],
    now: float,
) -> Response | None:
    """Count one request against the category's windows; 429 when one is full (403 for the day's)."""
    for limit in limits:
        if windows[(category, limit.window_s, int(now // limit.window_s))] >= limit.per_window:
            daily = limit.window_s >= 86_400
            refused[category] += 1
            return google_error(
                429 if not daily else 403,
                "Quota exceeded for quota metric 'Queries per day'" if daily else "Rate Limit Exceeded",
                reason="dailyLimitExceeded" if daily else "rateLimitExceeded",
                domain="usageLimits",
                legacy=True,
            )
    for limit in limits:
        windows[(category, limit.window_s, int(now // limit.window_s))] += 1
    return None


def query_load(body: dict[str, Any]) -> int:
    """What one Search Analytics query weighs against the short-term load budget: more with query
    and page together, and with every 30 days of its range."""
    dims = body.get("dimensions") or []
    span = (dt.date.fromisoformat(body["endDate"]) - dt.date.fromisoformat(body["startDate"])).days + 1
    return 1 + (2 if "query" in dims and "page" in dims else 0) + span // 30


def load_exceeded() -> Response:
    return google_error(
        403,
        "Search Analytics load quota exceeded (short-term). See "
        "https://developers.google.com/webmaster-tools/limits#load for more information.",
        reason="quotaExceeded",
        domain="usageLimits",
        legacy=True,
    )
