"""Search Console's ways of failing (api-facts.md §3.6), mapped to storelink's kinds.

Errors come in the Google v1 envelope with ``errors[].reason``. Throttling has several faces,
told apart by reason and message, and each becomes ``rate_limited`` with a wait and a
:class:`GscThrottleHint` that makes the limiter hold back the whole category meanwhile:

* ``rateLimitExceeded`` / ``userRateLimitExceeded`` (a per-minute limit): ``MINUTE_WAIT_S``
  [INF: the limits are per minute, so a minute is the longest wait that can be needed];
* the Search Analytics *load* quota ("load quota exceeded", reason ``quotaExceeded``, seen as
  403 or 429): short-term → ``SHORT_TERM_LOAD_WAIT_S`` (Google advises waiting 15 minutes),
  long-term → until midnight Pacific;
* a daily quota (``dailyLimitExceeded``, e.g. 2,000 URL inspections per site): until midnight Pacific.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import httpx2

from storelink.connectors.ga4.errors import seconds_to_pacific_midnight
from storelink.errors import ErrorKind
from storelink.resilience.classify import HttpClassifier, RateHint, Verdict

__all__ = ["MINUTE_WAIT_S", "SHORT_TERM_LOAD_WAIT_S", "GscClassifier", "GscThrottleHint", "category_of"]

MINUTE_WAIT_S = 60.0
SHORT_TERM_LOAD_WAIT_S = 15 * 60.0


@dataclass(frozen=True, slots=True)
class GscThrottleHint(RateHint):
    """Hold calls of ``category`` back for ``blocked_s`` (the inherited bucket fields are unused)."""

    category: str = "search_analytics"
    blocked_s: float = 0.0


def category_of(path: str) -> str:
    if path.endswith("/searchAnalytics/query"):
        return "search_analytics"
    if "urlInspection" in path:
        return "inspection"
    return "other"


class GscClassifier(HttpClassifier):
    def __init__(self, *, site_url: str, wall: Callable[[], float], **kwargs: Any) -> None:
        super().__init__(wall_clock=wall, **kwargs)
        self.site_url = site_url

    def classify_status(self, response: httpx2.Response, body: Any) -> Verdict:
        verdict = super().classify_status(response, body)
        if verdict.ok:
            return verdict
        error = body.get("error") if isinstance(body, dict) else None
        error = error if isinstance(error, dict) else {}
        said = str(error.get("message") or "")[:300]
        reasons = {str(e.get("reason")) for e in error.get("errors") or [] if isinstance(e, dict)}
        status_name = str(error.get("status") or "") or None
        code = response.status_code
        category = category_of(response.request.url.path)
        lowered = said.lower()
        upstream = next(iter(sorted(reasons)), None) or status_name
        if "load quota" in lowered or "quotaExceeded" in reasons or "dailyLimitExceeded" in reasons:
            return self._throttled(verdict, said, category, lowered, reasons, upstream)
        if code == 429:
            return self._throttled(verdict, said, category, lowered, reasons, upstream)
        if code == 403:
            if "insufficientPermissions" in reasons and "scope" in lowered:
                message = (
                    "The Google token lacks the webmasters.readonly scope. Mint a refresh token with it "
                    "(`storelink auth google`); see docs/connectors/gsc.md."
                )
            else:
                message = (
                    f"Search Console refused access to {self.site_url} (403: {said or 'permission denied'}). "
                    "Add the service account's e-mail, or the signed-in user, in Search Console → Settings → "
                    "Users and permissions, and check GSC_SITE_URL (`sc-domain:example.com` or the exact "
                    "URL-prefix property with its trailing slash)."
                )
            return replace(verdict, message=message, upstream_code=upstream)
        if code == 404:
            return replace(
                verdict,
                message=f"Search Console has no such site or sitemap (404: {said or 'not found'}). "
                "`list_sites` shows the properties these credentials can read.",
                upstream_code=upstream,
            )
        if code == 400:
            return replace(verdict, message=f"Search Console rejected the request: {said}", upstream_code=upstream)
        return replace(verdict, upstream_code=upstream)

    def _throttled(
        self, verdict: Verdict, said: str, category: str, lowered: str, reasons: set[str], upstream: str | None
    ) -> Verdict:
        now = self.wall_clock()
        if "load quota" in lowered:
            if "long-term" in lowered:
                wait = seconds_to_pacific_midnight(now)
                what = "the long-term Search Analytics load quota is spent (until midnight Pacific)"
            else:
                wait = SHORT_TERM_LOAD_WAIT_S
                what = "the short-term Search Analytics load quota is spent (Google advises waiting 15 minutes)"
            advice = " Lighter queries help: fewer page+query groupings, shorter date ranges."
        elif "dailyLimitExceeded" in reasons or "per day" in lowered:
            wait = seconds_to_pacific_midnight(now)
            what = "a daily quota is spent (until midnight Pacific)"
            advice = ""
        else:
            wait = MINUTE_WAIT_S
            what = "a per-minute limit was exceeded"
            advice = ""
        hint = GscThrottleHint(available=0.0, maximum=0.0, restore_per_s=0.0, category=category, blocked_s=wait)
        return replace(
            verdict,
            kind=ErrorKind.RATE_LIMITED,
            message=f"Search Console throttled the call: {what} ({said or 'quota exceeded'}). Retry in "
            f"{wait:.0f} s; storelink holds these calls back until then.{advice}",
            retry_after_s=wait,
            hint=hint,
            upstream_code=upstream,
            maybe_applied=False,
        )
