"""GA4's ways of failing (api-facts.md §2.5) and its quota reports (§2.4), read into verdicts.

Every answer is a ``google.rpc.Status`` error or a report that, when asked
(``returnPropertyQuota``), carries ``propertyQuota``: what this request consumed from each bucket
and what remains. Both feed the limiter through :class:`Ga4QuotaHint`:

* a 2xx with ``propertyQuota``: the buckets, authoritative;
* a 5xx: ``server_error=True``, because each one spends the property's ten-per-hour
  server-error quota, which the limiter guards;
* a 429 ``RESOURCE_EXHAUSTED``: which bucket ran out and how long until its window resets, told
  apart by the message (the texts clients rely on, §2.5). Hourly buckets reset at the next full
  hour, the daily one at midnight Pacific [INF: Google says "hourly quotas refresh within an
  hour"; the next full hour is the latest that can mean]; the concurrency bucket frees as soon
  as a request in flight returns (``CONCURRENCY_WAIT_S``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx2

from storelink.errors import ErrorKind
from storelink.resilience.classify import HttpClassifier, RateHint, Verdict

__all__ = [
    "CONCURRENCY_WAIT_S",
    "Ga4Classifier",
    "Ga4QuotaHint",
    "QuotaReading",
    "exhausted_bucket",
    "seconds_to_next_hour",
    "seconds_to_pacific_midnight",
]

CONCURRENCY_WAIT_S = 2.0

try:
    PACIFIC: dt.tzinfo = ZoneInfo("America/Los_Angeles")
except ZoneInfoNotFoundError:  # no tz database: standard time is the safe (later) guess
    PACIFIC = dt.timezone(dt.timedelta(hours=-8))


def seconds_to_next_hour(now_wall: float) -> float:
    return 3600.0 - (now_wall % 3600.0)


def seconds_to_pacific_midnight(now_wall: float) -> float:
    local = dt.datetime.fromtimestamp(now_wall, PACIFIC)
    midnight = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(), PACIFIC)
    return max(1.0, midnight.timestamp() - now_wall)


@dataclass(frozen=True, slots=True)
class QuotaReading:
    """One ``QuotaStatus``: what the request consumed and what remains."""

    consumed: float
    remaining: float


@dataclass(frozen=True, slots=True)
class Ga4QuotaHint(RateHint):
    """GA4's account of the property's quotas after one attempt (see the module docstring).

    The inherited fields describe the tightest token bucket (for the generic headroom display);
    ``buckets`` has every bucket reported, by its ``PropertyQuota`` field name."""

    category: str = "core"
    buckets: dict[str, QuotaReading] = field(default_factory=dict)
    server_error: bool = False
    exhausted: str | None = None
    blocked_s: float = 0.0

    @property
    def hold_s(self) -> float:
        """How long to send nothing more of this category: the wait the server implied, or, for an
        exhausted bucket without one, until a request in flight may have returned."""
        if self.exhausted is None and self.blocked_s <= 0:
            return 0.0
        return self.blocked_s or CONCURRENCY_WAIT_S


# Message fragments -> PropertyQuota bucket (api-facts.md §2.5, airbyte's api_quota.py).
_EXHAUSTED = (
    ("concurrent", "concurrentRequests"),
    ("server errors", "serverErrorsPerProjectPerHour"),
    ("thresholded", "potentiallyThresholdedRequestsPerHour"),
    ("for a project per hour", "tokensPerProjectPerHour"),
    ("tokens per day", "tokensPerDay"),
    ("tokens per hour", "tokensPerHour"),
)
TOKEN_BUCKETS = ("tokensPerDay", "tokensPerHour", "tokensPerProjectPerHour")


def exhausted_bucket(message: str) -> str | None:
    lowered = message.lower()
    return next((bucket for fragment, bucket in _EXHAUSTED if fragment in lowered), None)


def quota_hint(quota: Any, category: str) -> Ga4QuotaHint | None:
    if not isinstance(quota, dict):
        return None
    buckets: dict[str, QuotaReading] = {}
    for name, status in quota.items():
        if isinstance(status, dict):
            try:
                buckets[name] = QuotaReading(float(status.get("consumed", 0)), float(status.get("remaining", 0)))
            except (TypeError, ValueError):
                continue
    tokens = [(name, buckets[name]) for name in TOKEN_BUCKETS if name in buckets]
    if not tokens:
        return Ga4QuotaHint(available=0.0, maximum=0.0, restore_per_s=0.0, category=category, buckets=buckets)
    _, tightest = min(tokens, key=lambda item: item[1].remaining)
    consumed = max(reading.consumed for _, reading in tokens)
    return Ga4QuotaHint(
        available=tightest.remaining,
        maximum=tightest.remaining + tightest.consumed,
        restore_per_s=0.0,
        unit="tokens",
        actual_cost=consumed,
        category=category,
        buckets=buckets,
    )


def category_of(response: httpx2.Response) -> str:
    return "realtime" if response.request.url.path.endswith(":runRealtimeReport") else "core"


class Ga4Classifier(HttpClassifier):
    def __init__(self, *, property_name: str, wall: Callable[[], float], **kwargs: Any) -> None:
        super().__init__(wall_clock=wall, **kwargs)
        self.property_name = property_name

    def classify_status(self, response: httpx2.Response, body: Any) -> Verdict:
        verdict = super().classify_status(response, body)
        error = body.get("error") if isinstance(body, dict) else None
        error = error if isinstance(error, dict) else {}
        said = str(error.get("message") or "")[:300]
        status_name = str(error.get("status") or "") or None
        reasons = [d.get("reason") for d in error.get("details") or [] if isinstance(d, dict)]
        code = response.status_code
        category = category_of(response)
        if code >= 500:
            hint = Ga4QuotaHint(available=0.0, maximum=0.0, restore_per_s=0.0, category=category, server_error=True)
            return replace(verdict, hint=hint, upstream_code=status_name)
        if code == 429 or status_name == "RESOURCE_EXHAUSTED":
            return self._exhausted(verdict, said, category)
        if code == 403:
            if "SERVICE_DISABLED" in reasons:
                message = (
                    "The Google Analytics Data API is disabled in the Cloud project of these credentials. "
                    "Enable it (APIs & Services → Library → Google Analytics Data API), then retry."
                )
            elif "ACCESS_TOKEN_SCOPE_INSUFFICIENT" in reasons or "scope" in said.lower():
                message = (
                    "The Google token lacks the analytics.readonly scope. Mint a refresh token with it "
                    "(`storelink auth google`); see docs/connectors/ga4.md."
                )
            else:
                message = (
                    f"GA4 refused access to {self.property_name} (403: {said or 'permission denied'}). Add the "
                    "service account's e-mail or the signed-in user as a Viewer in GA4 Admin → Property "
                    "access management, and check GA4_PROPERTY_ID."
                )
            return replace(verdict, message=message, upstream_code=status_name)
        if code == 404:
            return replace(
                verdict,
                message=f"GA4 has no {self.property_name} (404). Check GA4_PROPERTY_ID (the numeric id).",
                upstream_code=status_name,
            )
        if code == 400:
            return replace(
                verdict,
                message=f"GA4 rejected the request: {said or 'invalid argument'} See `get_metadata` for valid "
                "dimension and metric names.",
                upstream_code=status_name,
            )
        if code == 401:
            return replace(verdict, upstream_code=status_name)
        return verdict

    def _exhausted(self, verdict: Verdict, said: str, category: str) -> Verdict:
        bucket = exhausted_bucket(said)
        now = self.wall_clock()
        if bucket == "concurrentRequests":
            wait = CONCURRENCY_WAIT_S
            what = "too many requests are in flight to the property"
        elif bucket == "tokensPerDay":
            wait = seconds_to_pacific_midnight(now)
            what = "the property's daily tokens are spent (they return at midnight Pacific time)"
        else:
            wait = seconds_to_next_hour(now)
            what = "an hourly quota of the property is spent" if bucket is None else f"{bucket} is spent"
        hint = Ga4QuotaHint(
            available=0.0, maximum=0.0, restore_per_s=0.0, category=category, exhausted=bucket, blocked_s=wait
        )
        return replace(
            verdict,
            kind=ErrorKind.RATE_LIMITED,
            message=f"GA4 quota exhausted: {what} ({said or 'RESOURCE_EXHAUSTED'}). Every request to the "
            f"property fails until the window resets in {_duration(wait)}; storelink holds calls back until then.",
            retry_after_s=wait,
            hint=hint,
            upstream_code="RESOURCE_EXHAUSTED",
            maybe_applied=False,
        )

    def classify_body(self, response: httpx2.Response, body: Any, verdict: Verdict) -> Verdict:
        if verdict.ok and isinstance(body, dict):
            hint = quota_hint(body.get("propertyQuota"), category_of(response))
            if hint is not None:
                return replace(verdict, hint=hint)
        return verdict


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
