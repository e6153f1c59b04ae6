"""The pipeline every upstream call passes through, as an httpx2 transport.

Order, outermost first (fixed; each layer sees only what the layers outside it let through)::

    fresh cache hit ─► deadline ─► bulkhead ─► circuit breaker ─► retry loop ┐
        ┌────────────────────────────────────────────────────────────────────┘
        └─► rate limiter ─► auth ─► per-attempt timeout ─► conditional cache ─► transport

* A fresh cache hit is answered before anything else: it costs the upstream nothing, so it
  needs no permit, and an open breaker must not hide data we already hold.
* The **deadline** bounds the whole call: bulkhead queueing, limiter waits, every attempt and
  every backoff. No wait starts that the deadline could not cover. Inside an operation
  (:func:`~storelink.resilience.deadline.operation_deadline`) it is the earlier of the request's
  and the operation's, so every page of a paginated call draws on one budget.
* The **bulkhead** caps calls in flight to this upstream (GA4 allows 10 per property).
* The **breaker** sees each call's final outcome; only upstream faults count (errors.py).
* The **rate limiter** is consulted for every attempt, retries included, because every attempt
  costs the upstream's budget (resilience.md §1.6).
* The **retry loop** retries transient verdicts of reads; writes only when the upstream
  certainly did not act (429, connection refused) or honours the idempotency key. Server hints
  (Retry-After, quota resets) replace full-jitter backoff. A retry budget bounds retries overall.
* The **per-attempt timeout** is ``min(timeout, deadline left)``, handed to the transport in
  ``request.extensions["timeout"]``: httpx2 enforces it per phase on the wire (connect, write,
  each read, pool wait) and the in-process fake transport enforces it as a whole.
* The **conditional cache** adds ``If-None-Match``/``If-Modified-Since`` for a stale entry with
  validators and turns a 304 into the cached response.

Per-call options travel in ``request.extensions["storelink"]`` (:class:`CallOptions`); what
happened comes back in ``response.extensions["storelink"]`` (:class:`CallReport`).
"""

from __future__ import annotations

import asyncio
import random as _random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx2

from storelink.clock import Clock
from storelink.errors import ConnectorError, ErrorKind, Headroom, Source
from storelink.observability.metrics import Metrics, OperationMetrics
from storelink.resilience.breaker import CircuitBreaker
from storelink.resilience.cache import CachedResponse, ResponseCache, cache_key
from storelink.resilience.classify import Classifier, Verdict
from storelink.resilience.deadline import Deadline, current_deadline
from storelink.resilience.limiter import RateLimiter, Reservation
from storelink.resilience.retry import RetryBudget, RetryPolicy

__all__ = [
    "OPTIONS_KEY",
    "REPORT_KEY",
    "Authenticator",
    "CallOptions",
    "CallReport",
    "Policy",
    "ResilientTransport",
]

OPTIONS_KEY = "storelink"
REPORT_KEY = "storelink"


@dataclass(slots=True)
class CallOptions:
    """What may vary per call. Reads are the default; a write must say so. (Not frozen: a frozen
    dataclass costs microseconds more to build, and one is built per call.)"""

    operation: str
    write: bool = False
    # A write whose idempotency key the upstream honours may be retried like a read.
    idempotent: bool = False
    cost: float = 1.0
    cache_ttl_s: float | None = None  # None: the policy's default for reads; 0: do not cache
    deadline_s: float | None = None


@dataclass(slots=True)
class CallReport:
    attempts: int = 0
    source: Source = "network"
    latency_s: float = 0.0
    limiter_wait_s: float = 0.0
    request_id: str | None = None
    headroom: Headroom | None = None
    body: Any = None  # the parsed JSON body, when there was one


@dataclass(frozen=True, slots=True)
class Policy:
    """What the pipeline does with every call (no defaults: an upstream's knobs give them, through
    :func:`storelink.resilience.policy.call_policy`)."""

    attempt_timeout_s: float
    connect_timeout_s: float
    deadline_s: float
    max_in_flight: int
    cache_ttl_s: float
    retry: RetryPolicy


class Authenticator(Protocol):
    """Puts credentials on a request; after a 401, gets fresh ones once."""

    async def apply(self, request: httpx2.Request) -> None: ...

    async def refresh(self, rejected: httpx2.Request) -> bool:
        """Replace the credentials ``rejected`` carried; False when nothing fresher can be had.
        Many calls may be rejected at once: only the first should fetch new credentials."""
        ...


class ResilientTransport(httpx2.AsyncBaseTransport):
    def __init__(
        self,
        inner: httpx2.AsyncBaseTransport,
        *,
        connector: str,
        policy: Policy,
        classifier: Classifier,
        clock: Clock,
        metrics: Metrics,
        limiter: RateLimiter,
        breaker: CircuitBreaker,
        budget: RetryBudget,
        cache: ResponseCache | None = None,
        partition: str = "",
        auth: Authenticator | None = None,
        random: Callable[[], float] = _random.random,
    ) -> None:
        self.inner = inner
        self.connector = connector
        self.policy = policy
        self.classifier = classifier
        self.clock = clock
        self.metrics = metrics
        self.limiter = limiter
        self.breaker = breaker
        self.budget = budget
        self.cache = cache
        self.partition = partition
        self.auth = auth
        self.random = random
        self._bulkhead = asyncio.Semaphore(policy.max_in_flight)

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        options: CallOptions = request.extensions.get(OPTIONS_KEY) or CallOptions(request.method.lower())
        om = self.metrics.operation(self.connector, options.operation)
        report = CallReport()
        started = self.clock.now()
        try:
            response = await self._call(request, options, report, om)
        except ConnectorError as err:
            err.with_context(connector=self.connector, operation=options.operation)
            om.observe(outcome=err.kind.value, latency_s=self.clock.now() - started, attempts=report.attempts)
            raise
        report.latency_s = self.clock.now() - started
        om.observe(outcome="ok", latency_s=report.latency_s, attempts=report.attempts)
        response.extensions = {**response.extensions, REPORT_KEY: report}
        return response

    # -- layers ---------------------------------------------------------------------------------
    async def _call(
        self, request: httpx2.Request, options: CallOptions, report: CallReport, om: OperationMetrics
    ) -> httpx2.Response:
        ttl = (
            0.0 if options.write else (self.policy.cache_ttl_s if options.cache_ttl_s is None else options.cache_ttl_s)
        )
        key: str | None = None
        entry: CachedResponse | None = None
        if ttl > 0 and self.cache is not None:
            key = cache_key(connector=self.connector, partition=self.partition, request=request)
            entry = self.cache.get(key)
            if entry is not None and entry.fresh(self.cache.now()):
                om.cache("fresh")
                report.source = "cache-fresh"
                return entry.to_response(request)

        deadline = Deadline.after(self.clock, options.deadline_s or self.policy.deadline_s).earliest(current_deadline())
        await self._enter_bulkhead(deadline)
        try:
            self.breaker.acquire()
            started = self.clock.now()
            try:
                response = await self._retry_loop(request, options, report, om, deadline, key, entry, ttl)
            except ConnectorError as err:
                if err.kind.is_upstream_fault:
                    self.breaker.record(failed=True, duration_s=self._upstream_time(started, report))
                else:
                    self.breaker.release()
                raise
            except BaseException:
                self.breaker.release()
                raise
            self.breaker.record(failed=False, duration_s=self._upstream_time(started, report))
            return response
        finally:
            self._bulkhead.release()

    def _upstream_time(self, started: float, report: CallReport) -> float:
        """How long the call took, less the time it queued at our own limiter: the breaker judges
        the upstream, and a busy bucket (Shopify's, at 16 callers) is not a slow upstream."""
        return max(0.0, self.clock.now() - started - report.limiter_wait_s)

    async def _enter_bulkhead(self, deadline: Deadline) -> None:
        if not self._bulkhead.locked():
            await self._bulkhead.acquire()
            return
        try:
            async with asyncio.timeout(deadline.remaining()):
                await self._bulkhead.acquire()
        except TimeoutError:
            raise ConnectorError(
                ErrorKind.TIMEOUT,
                f"{self.policy.max_in_flight} calls to this upstream were already in flight for the whole "
                f"deadline; retry later or raise STORELINK_{self.connector.upper()}_MAX_IN_FLIGHT.",
            ) from None

    async def _retry_loop(
        self,
        request: httpx2.Request,
        options: CallOptions,
        report: CallReport,
        om: OperationMetrics,
        deadline: Deadline,
        key: str | None,
        entry: CachedResponse | None,
        ttl: float,
    ) -> httpx2.Response:
        self.budget.on_first_attempt()
        if entry is not None and entry.has_validators:
            if entry.etag:
                request.headers["If-None-Match"] = entry.etag
            if entry.last_modified:
                request.headers["If-Modified-Since"] = entry.last_modified
        refreshed_auth = False
        while True:
            report.attempts += 1
            reservation = await self._pace(options, report, om, deadline)
            verdict, response = await self._attempt_paced(request, reservation, deadline)
            report.request_id = verdict.request_id or report.request_id
            report.body = verdict.body
            if verdict.hint is not None:
                report.headroom = self.limiter.headroom()
                if report.headroom is not None:
                    self.metrics.set_headroom(self.connector, report.headroom)

            if verdict.ok and response is not None:
                if response.status_code == 304 and entry is not None and key is not None and self.cache:
                    self.cache.refresh(key, ttl)
                    om.cache("revalidated")
                    report.source = "cache-revalidated"
                    return entry.to_response(request)
                if key is not None and self.cache is not None and 200 <= response.status_code < 300:
                    # The partition starts with the store id (connectors/base.py): a webhook expires one store's.
                    store = self.partition.partition("|")[0]
                    self.cache.put(key, connector=self.connector, response=response, ttl_s=ttl, store=store)
                    om.cache("miss")
                return response

            assert verdict.kind is not None
            if verdict.kind is ErrorKind.RATE_LIMITED:
                om.throttled()
            if verdict.kind is ErrorKind.UNAUTHORIZED and self.auth is not None and not refreshed_auth:
                refreshed_auth = True
                if await self.auth.refresh(request):
                    om.retry("unauthorized")
                    continue
            wait = self._retry_wait(verdict, options, report.attempts, deadline)
            if wait is None:
                if verdict.kind is ErrorKind.TIMEOUT and deadline.expired():
                    raise self._deadline_error(report.attempts)  # cut at the deadline, not by its own timeout
                raise verdict.error()
            om.retry(verdict.kind.value)
            await self.clock.sleep(wait)

    def _retry_wait(self, verdict: Verdict, options: CallOptions, attempts: int, deadline: Deadline) -> float | None:
        """How long to wait before retrying, or None when this verdict must not be retried."""
        if not verdict.should_retry:
            return None
        if options.write and not options.idempotent and verdict.maybe_applied:
            return None  # the upstream may have acted; a blind retry could act twice
        if attempts > self.policy.retry.max_retries:
            return None
        if verdict.retry_after_s is not None:
            wait = verdict.retry_after_s
        else:
            wait = self.policy.retry.backoff(attempts, self.random)
        if not deadline.allows(wait):
            return None
        if not self.budget.try_spend():
            return None
        return wait

    async def _pace(
        self, options: CallOptions, report: CallReport, om: OperationMetrics, deadline: Deadline
    ) -> Reservation:
        """Reserve this attempt's cost and wait out the limiter, within the deadline."""
        if deadline.expired():
            raise self._deadline_error(report.attempts - 1)  # this attempt never started
        reservation = await self.limiter.reserve(options.cost, operation=options.operation, deadline=deadline)
        if reservation.wait_s <= 0:
            return reservation
        if not deadline.allows(reservation.wait_s):
            await self.limiter.cancel(reservation)
            raise ConnectorError(
                ErrorKind.RATE_LIMITED,
                f"The local rate limit would hold this call {reservation.wait_s:.1f} s, longer than its "
                "deadline allows; nothing was sent. Retry after the wait.",
                retry_after_s=reservation.wait_s,
            )
        report.limiter_wait_s += reservation.wait_s
        om.limiter_waited(reservation.wait_s)
        try:
            await self.clock.sleep(reservation.wait_s)
        except BaseException:
            await self.limiter.cancel(reservation)
            raise
        return reservation

    async def _attempt_paced(
        self, request: httpx2.Request, reservation: Reservation, deadline: Deadline
    ) -> tuple[Verdict, httpx2.Response | None]:
        """One attempt under its reservation, settled with what the upstream reported. A refused
        attempt keeps its cost: the upstream said we were over, so the local model was generous."""
        try:
            verdict, response = await self._attempt(request, deadline)
        except BaseException:
            await self.limiter.cancel(reservation)
            raise
        await self.limiter.settle(reservation, verdict.hint)
        return verdict, response

    async def _attempt(self, request: httpx2.Request, deadline: Deadline) -> tuple[Verdict, httpx2.Response | None]:
        timeout = min(self.policy.attempt_timeout_s, deadline.remaining())
        request.extensions = {
            **request.extensions,
            "timeout": {
                "connect": min(self.policy.connect_timeout_s, timeout),
                "read": timeout,
                "write": timeout,
                "pool": timeout,
            },
        }
        if self.auth is not None:
            await self.auth.apply(request)
        response: httpx2.Response | None = None
        try:
            response = await self.inner.handle_async_request(request)
            response.request = request  # the client sets it only after the transport returns
            await response.aread()
        except (httpx2.HTTPError, TimeoutError, OSError) as exc:
            if response is not None:
                await response.aclose()
            return self.classifier.classify_exception(exc), None
        return self.classifier.classify_response(response), response

    def _deadline_error(self, attempts: int) -> ConnectorError:
        return ConnectorError(
            ErrorKind.TIMEOUT,
            f"The call's deadline passed after {attempts} attempt(s) of this request. Ask for less (a "
            f"smaller limit or date range), or raise STORELINK_{self.connector.upper()}_DEADLINE (now "
            f"{self.policy.deadline_s:g} s).",
        )
