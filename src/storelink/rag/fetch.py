"""Fetching the store's pages through the core's resilient pipeline.

The site is not a registered connector (it has no operations an agent calls directly), but its
requests take the same path as every connector's: deadline, bulkhead, breaker, rate limiter,
retries and the conditional cache, built from its knobs (``STORELINK_SITE_*``) by the core's
:func:`~storelink.resilience.policy.build_pipeline`. The conditional-request
machinery is the core's: a cached page with an ``ETag``/``Last-Modified`` is revalidated with
``If-None-Match``/``If-Modified-Since``, and a 304 comes back as the cached body with
``source == "cache-revalidated"``.

``Crawl-delay`` from robots.txt becomes the limiter: one request per delay, no burst. It is read
through the pipeline it changes, so honouring it builds the fetcher a new pipeline at that pace
(the breaker's state carries over; the old pipeline is left as it was).

Redirects are followed here, hop by hop, and only within the origin (scheme, host and port) of
the page asked for: a redirect to another origin raises :class:`OffSiteRedirect` instead of
fetching it, so another server's content is never taken for the site's. ``Fetched.url`` is the
final URL, and each hop goes through the pipeline (and its cache) as a request of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx2

from storelink.clock import Clock, LoopClock
from storelink.errors import ConfigurationError, ConnectorError, ErrorKind, Mode, Source
from storelink.fakes.base import InProcessTransport
from storelink.observability.metrics import Metrics
from storelink.rag.urls import origin_of
from storelink.resilience.breaker import CircuitBreaker
from storelink.resilience.cache import ResponseCache
from storelink.resilience.classify import HttpClassifier, Verdict
from storelink.resilience.pipeline import OPTIONS_KEY, REPORT_KEY, CallOptions, CallReport, ResilientTransport
from storelink.resilience.policy import build_pipeline, client_timeout
from storelink.settings import ConnectorKnobs, Settings

__all__ = [
    "CONNECTOR",
    "DEMO_SITE_URL",
    "MAX_REDIRECTS",
    "USER_AGENT",
    "Fetched",
    "OffSiteRedirect",
    "SiteClassifier",
    "SiteFetcher",
    "site_knobs",
    "site_mode",
]

CONNECTOR = "site"
USER_AGENT = "storelink"
DEMO_SITE_URL = "https://www.apexperformanceparts.example"
MAX_REDIRECTS = 5


def site_knobs(settings: Settings) -> ConnectorKnobs:
    """``STORELINK_SITE_*``: polite to a live shop (ten pages a second, four at a time) with a
    day-long cache lease; every discover/ingest run marks the site's entries stale first, so each
    run revalidates every page with a conditional request."""
    return settings.site


def site_mode(settings: Settings) -> Mode:
    """``live`` when STORELINK_SITE_URL names a site (and mocks are not forced), else ``mock``."""
    if not site_knobs(settings).enabled:
        return "disabled"
    return "live" if settings.site_url and not settings.mcp_force_mocks else "mock"


@dataclass(frozen=True, slots=True)
class Fetched:
    url: str  # after redirects
    status: int
    content: bytes
    content_type: str
    etag: str | None
    last_modified: str | None
    source: Source

    @property
    def is_html(self) -> bool:
        return "html" in self.content_type or (not self.content_type and self.content.lstrip()[:1] == b"<")


def _shown(url: str) -> str:
    """A URL for a message: without its query, which may carry a token (errors.py's rule)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


class OffSiteRedirect(ConnectorError):
    """The site redirected a page to another origin; it was not followed, and nothing is stored."""

    def __init__(self, url: str, target: str, *, origin: str, operation: str, status: int) -> None:
        super().__init__(
            ErrorKind.INVALID_REQUEST,
            f"{_shown(url)} redirects ({status}) to {_shown(target)}, on another origin than {origin}; "
            f"only {origin} is fetched, so it was skipped. If the site moved, set STORELINK_SITE_URL "
            "to its new address.",
            connector=CONNECTOR,
            operation=operation,
            status=status,
            retryable=False,
        )
        self.url = url
        self.target = target


def _origin_or_none(url: str) -> str | None:
    try:
        return origin_of(url)
    except ValueError:  # not http(s): mailto:, ftp:, a malformed Location
        return None


class SiteClassifier(HttpClassifier):
    """A website's statuses: redirects are answers, 404 and 410 mean the page is gone."""

    def classify_status(self, response: httpx2.Response, body: object) -> Verdict:
        status = response.status_code
        if 300 <= status < 400 and status != 304:
            return Verdict(status=status)
        if status in (404, 410):
            return Verdict(
                ErrorKind.NOT_FOUND,
                f"The site answered {status} for this page: it no longer exists. Re-run discovery.",
                status=status,
            )
        return super().classify_status(response, body)


class SiteFetcher:
    """GETs of one site's pages; one pooled client, one pipeline."""

    def __init__(
        self,
        settings: Settings,
        *,
        base_url: str,
        inner: httpx2.AsyncBaseTransport,
        metrics: Metrics,
        cache: ResponseCache | None,
        mode: Mode,
        clock: Clock | None = None,
        knobs: ConnectorKnobs | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.mode = mode
        self.knobs = knobs or site_knobs(settings)
        if mode == "mock":  # the in-process fake needs no politeness; ingest speed is measured on it
            self.knobs = self.knobs.model_copy(update={"rate_limit": 10_000.0, "rate_burst": 10_000.0})
        self.clock = clock or LoopClock()
        self.cache = cache
        self.inner = inner
        self.metrics = metrics
        self.crawl_delay_s: float | None = None
        self.transport, self.client = self._pipeline()

    def _pipeline(self, *, breaker: CircuitBreaker | None = None) -> tuple[ResilientTransport, httpx2.AsyncClient]:
        """The pipeline the knobs and the site's ``Crawl-delay`` describe, and the client over it."""
        knobs = self.knobs
        if self.crawl_delay_s:
            knobs = knobs.model_copy(update={"rate_limit": 1.0 / self.crawl_delay_s, "rate_burst": 1.0})
        transport = build_pipeline(
            self.inner,
            connector=CONNECTOR,
            knobs=knobs,
            classifier=SiteClassifier(title="The site", connector=CONNECTOR, credential_hint="STORELINK_SITE_URL"),
            clock=self.clock,
            metrics=self.metrics,
            breaker=breaker,
            cache=self.cache,
        )
        client = httpx2.AsyncClient(
            transport=transport,
            follow_redirects=False,  # followed in get(), within the page's origin only
            timeout=client_timeout(knobs),
            headers={"User-Agent": USER_AGENT, "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9"},
        )
        return transport, client

    @classmethod
    def for_settings(
        cls,
        settings: Settings,
        *,
        metrics: Metrics,
        cache: ResponseCache | None,
        transport: httpx2.AsyncBaseTransport | None = None,
        clock: Clock | None = None,
    ) -> SiteFetcher:
        """Live: the network and STORELINK_SITE_URL. Mock: the demo site in-process. ``transport``
        replaces the wire (tests point the fetcher at a loopback server or another fake)."""
        mode = site_mode(settings)
        base_url = settings.site_url if mode == "live" and settings.site_url else DEMO_SITE_URL
        if _origin_or_none(base_url) is None:
            raise ConfigurationError(
                f"STORELINK_SITE_URL must be the http(s) address of the store's website, not {_shown(base_url)!r}."
            )
        if transport is not None:
            inner = transport
        elif mode == "live":
            knobs = site_knobs(settings)
            limits = httpx2.Limits(max_connections=knobs.pool_size, max_keepalive_connections=knobs.pool_size)
            inner = httpx2.AsyncHTTPTransport(limits=limits, retries=0)
        else:
            from storelink.fakes.data import current_demo_store
            from storelink.fakes.site import SiteFake

            inner = InProcessTransport(SiteFake(store=current_demo_store(settings.demo_today)).app)
        return cls(settings, base_url=base_url, inner=inner, metrics=metrics, cache=cache, mode=mode, clock=clock)

    def honour_crawl_delay(self, delay_s: float | None) -> None:
        """Pace to one request per ``delay_s`` (robots.txt ``Crawl-delay``); None restores the knobs.
        A new pace is a new pipeline over the same wire, with the same breaker; the client it
        replaces is not closed, since closing it would close the wire."""
        delay_s = delay_s if delay_s and delay_s > 0 else None
        if delay_s == self.crawl_delay_s:
            return
        self.crawl_delay_s = delay_s
        self.transport, self.client = self._pipeline(breaker=self.transport.breaker)

    def revalidate_all(self) -> None:
        """Mark every cached page of the site stale: the next fetch of each is a conditional GET."""
        if self.cache is not None:
            self.cache.expire(CONNECTOR)

    async def get(self, url: str, *, operation: str = "fetch_page") -> Fetched:
        """GET ``url``, following redirects within its origin. Raises ConnectorError
        (``not_found`` for 404/410, ``unavailable`` …), :class:`OffSiteRedirect` for a redirect to
        another origin, and ValueError for a URL that is not http(s)."""
        origin = origin_of(url)
        options = CallOptions(operation=operation, cache_ttl_s=self.knobs.cache_ttl or None)
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            response = await self.client.get(current, extensions={OPTIONS_KEY: options})
            hop = response.next_request
            if hop is None:  # not a redirect (or one without a usable Location): the answer
                return self._fetched(response)
            target = str(hop.url)
            if _origin_or_none(target) != origin:
                raise OffSiteRedirect(
                    str(response.url), target, origin=origin, operation=operation, status=response.status_code
                )
            current = target
        raise ConnectorError(
            ErrorKind.UPSTREAM_ERROR,
            f"The site redirected this page more than {MAX_REDIRECTS} times; fix the redirect loop.",
            connector=CONNECTOR,
            operation=operation,
        )

    @staticmethod
    def _fetched(response: httpx2.Response) -> Fetched:
        report: CallReport | None = response.extensions.get(REPORT_KEY)
        return Fetched(
            url=str(response.url),
            status=response.status_code,
            content=response.content,
            content_type=response.headers.get("content-type", "").lower(),
            etag=response.headers.get("etag"),
            last_modified=response.headers.get("last-modified"),
            source=report.source if report else "network",
        )

    async def aclose(self) -> None:
        await self.client.aclose()
