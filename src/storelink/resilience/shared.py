"""State shared across replicas through Redis, and what each replica does when Redis is gone.

``async with shared_state(settings) as shared:`` yields ``None`` without ``STORELINK_REDIS_URL``
(nothing changes: one process, embedded state) and otherwise a :class:`SharedState` that hands
out, per connector, a limiter over the shared bucket (:meth:`SharedState.limiter_for`), the
response cache in Redis (:meth:`SharedState.response_cache`), leases and shared OAuth tokens
(:attr:`SharedState.locks`, :attr:`SharedState.tokens`), and one status for health, metrics and
the dashboard (:meth:`SharedState.status`).

Redis failing never fails a request. :class:`FallbackLimiter` answers each call from the shared
bucket while Redis works and from a local bucket sized to this replica's share (1/``replicas``
of the budget, ``STORELINK_REPLICAS``) when it does not. The local share is kept in step with
every upstream report even while Redis works (each report scaled by 1/replicas), so a switch
starts from the upstream's last known state rather than from a full bucket. Transitions are
decided by one :class:`~storelink.resilience.redis_health.RedisHealth` for all components: the
first failure marks every component degraded, one caller probes after a backoff, the first
success brings all back.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Protocol, runtime_checkable

import redis
import redis.asyncio
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from pydantic import SecretStr
from redis.backoff import NoBackoff

from storelink.clock import Clock, LoopClock
from storelink.errors import Headroom
from storelink.observability.metrics import Metrics
from storelink.resilience.classify import RateHint
from storelink.resilience.deadline import Deadline
from storelink.resilience.limiter import RateLimiter, Reservation, TokenBucketLimiter
from storelink.resilience.redis_cache import RedisResponseCache
from storelink.resilience.redis_health import REDIS_ERRORS, RedisHealth, SharedStatus
from storelink.resilience.redis_limiter import RESERVATION_TTL_S, RedisBucketLimiter, SharedReservation
from storelink.resilience.redis_locks import RedisLocks, SharedTokens
from storelink.settings import Settings
from storelink.store import EmbeddedStore

__all__ = [
    "DEFAULT_PREFIX",
    "REDIS_TIMEOUT_S",
    "FallbackLimiter",
    "Shareable",
    "SharedState",
    "SharedStatus",
    "redis_clients",
    "shared_state",
]

log = logging.getLogger("storelink.shared")

DEFAULT_PREFIX = "storelink:"
# Socket timeouts for every Redis call (connect and read). Short, because a caller waits this long
# only to learn that it must decide locally; Redis is expected on the local network.
REDIS_TIMEOUT_S = 0.25


class FallbackLimiter:
    """The shared bucket while Redis answers; this replica's share of the budget when it does not.

    Reservations remember where they were made (a :class:`SharedReservation` is Redis'), so each
    is cancelled or settled where it lives. A shared reservation that cannot be closed because
    Redis went away simply expires there (``RESERVATION_TTL_S``).
    """

    def __init__(
        self, shared: RedisBucketLimiter, local: TokenBucketLimiter, *, health: RedisHealth, replicas: int
    ) -> None:
        self.shared = shared
        self.local = local
        self.health = health
        self.replicas = max(1, replicas)

    @property
    def degraded(self) -> bool:
        return self.health.degraded

    async def reserve(self, cost: float, *, operation: str = "", deadline: Deadline | None = None) -> Reservation:
        if self.health.should_try():
            try:
                reservation = await self.shared.reserve(cost, operation=operation, deadline=deadline)
            except REDIS_ERRORS as exc:
                self.health.failed(exc)
            else:
                self.health.succeeded()
                return reservation
        else:
            self.health.fell_back()
        # A query bigger than this replica's share could never be admitted locally; taking the
        # whole share lets it through, paced, rather than fail it because Redis did.
        return await self.local.reserve(min(cost, self.local.capacity), operation=operation, deadline=deadline)

    async def cancel(self, reservation: Reservation) -> None:
        if not isinstance(reservation, SharedReservation):
            await self.local.cancel(reservation)
            return
        if self.health.degraded:
            return  # it expires in Redis
        try:
            await self.shared.cancel(reservation)
        except REDIS_ERRORS as exc:
            self.health.failed(exc)

    async def settle(self, reservation: Reservation, hint: RateHint | None) -> None:
        share = self._share(hint)
        if not isinstance(reservation, SharedReservation):
            await self.local.settle(reservation, share)
            return
        if share is not None:
            await self._observe_locally(share)
        if self.health.degraded:
            return
        try:
            await self.shared.settle(reservation, hint)
        except REDIS_ERRORS as exc:
            self.health.failed(exc)

    def headroom(self) -> Headroom | None:
        if self.health.degraded:
            return self.local.headroom()
        return self.shared.headroom() or self.local.headroom()

    # -- the local share -------------------------------------------------------------------------
    def _share(self, hint: RateHint | None) -> RateHint | None:
        if hint is None or self.replicas == 1:
            return hint
        n = self.replicas
        return replace(
            hint, available=hint.available / n, maximum=hint.maximum / n, restore_per_s=hint.restore_per_s / n
        )

    async def _observe_locally(self, share: RateHint) -> None:
        """Bring the local share in line with an upstream report, without spending anything: a
        zero-cost reservation settled with the report is exactly the local limiter's re-sync."""
        probe = await self.local.reserve(0.0)
        await self.local.settle(probe, replace(share, actual_cost=None))


@runtime_checkable
class Shareable(Protocol):
    """A limiter that knows how to share its own quota model across replicas."""

    def shared_with(self, state: SharedState, key: str) -> RateLimiter:
        """The shared form over ``state`` under ``key``; the limiter itself when it has none."""
        ...


@dataclass
class SharedState:
    """What the runtime gets when ``STORELINK_REDIS_URL`` is set."""

    client: redis.asyncio.Redis
    sync_client: redis.Redis
    health: RedisHealth
    locks: RedisLocks
    tokens: SharedTokens
    replicas: int
    prefix: str = DEFAULT_PREFIX
    clock: Clock = field(default_factory=LoopClock)
    reservation_ttl_s: float = RESERVATION_TTL_S
    limiters: dict[str, FallbackLimiter] = field(default_factory=dict)
    unshared: list[str] = field(default_factory=list)

    def limiter_for(self, connector_name: str, local_limiter: RateLimiter, *, partition: str = "") -> RateLimiter:
        """The shared version of a connector's limiter, keyed by connector and credential partition
        (one upstream budget): a plain token bucket moves into Redis (:meth:`token_bucket`); a
        limiter with its own quota model (GA4's, Search Console's) shares itself through its
        ``shared_with`` (:class:`Shareable`). Any other stays per replica, and :attr:`unshared`
        says so."""
        key = f"{connector_name}:{partition}" if partition else connector_name
        if isinstance(local_limiter, TokenBucketLimiter):
            return self.token_bucket(key, local_limiter)
        if isinstance(local_limiter, Shareable):
            shared = local_limiter.shared_with(self, key)
            if shared is not local_limiter:
                return shared
        if connector_name not in self.unshared:
            self.unshared.append(connector_name)
            log.info("%s: its limiter has no shared form; it paces per replica", connector_name)
        return local_limiter

    def token_bucket(self, key: str, local_limiter: TokenBucketLimiter) -> FallbackLimiter:
        """``local_limiter``'s bucket in Redis under ``key``, with this replica's share as fallback."""
        shared = RedisBucketLimiter(
            self.client,
            bucket=key,
            rate=local_limiter.rate,
            capacity=local_limiter.capacity,
            prefix=self.prefix,
            unit=local_limiter.unit,
            reservation_ttl_s=self.reservation_ttl_s,
            clock=self.clock,
        )
        return self.fallback(key, shared, local_limiter)

    def fallback(self, key: str, shared: RedisBucketLimiter, local_limiter: TokenBucketLimiter) -> FallbackLimiter:
        """``shared`` (a bucket in Redis under ``key``), with this replica's share of
        ``local_limiter``'s bucket for when Redis fails."""
        n = self.replicas
        local = TokenBucketLimiter(
            rate=local_limiter.rate / n, capacity=local_limiter.capacity / n, clock=self.clock, unit=local_limiter.unit
        )
        limiter = FallbackLimiter(shared, local, health=self.health, replicas=n)
        self.limiters[key] = limiter
        return limiter

    def response_cache(
        self, store: EmbeddedStore, *, flush_after_s: float = 0.25, flush_at: int = 256
    ) -> RedisResponseCache:
        """The response cache in Redis, falling back to ``store``'s embedded cache."""
        return RedisResponseCache(
            store,
            self.sync_client,
            health=self.health,
            prefix=self.prefix,
            flush_after_s=flush_after_s,
            flush_at=flush_at,
        )

    def status(self) -> SharedStatus:
        return self.health.status()

    async def ping(self) -> bool:
        """Ask Redis once (at start, and for ``storelink health``); records the outcome."""
        try:
            await self.client.ping()
        except REDIS_ERRORS as exc:
            self.health.failed(exc)
            return False
        self.health.succeeded()
        return True


class SharedStateCollector(Collector):
    """Exports :meth:`SharedState.status` at scrape time."""

    def __init__(self, state: SharedState) -> None:
        self.state = state

    def collect(self) -> Iterable[Metric]:
        status = self.state.status()
        degraded = GaugeMetricFamily(
            "storelink_shared_state_degraded",
            "1 while Redis is unreachable and limits, cache and tokens are local to this replica.",
        )
        degraded.add_metric([], 1.0 if status.degraded else 0.0)
        failures = CounterMetricFamily(
            "storelink_shared_state_failures", "Times shared state fell back to local since start."
        )
        failures.add_metric([], float(status.failures))
        fallbacks = CounterMetricFamily(
            "storelink_shared_state_fallback_calls", "Calls answered from local state because Redis failed."
        )
        fallbacks.add_metric([], float(status.fallback_calls))
        yield from (degraded, failures, fallbacks)


def redis_clients(url: str, *, timeout_s: float = REDIS_TIMEOUT_S) -> tuple[redis.asyncio.Redis, redis.Redis]:
    """The asyncio client (limiters, locks, tokens) and the blocking one (the cache, which the
    pipeline calls synchronously). One immediate retry, no backoff: it reconnects a pooled
    connection that a restarted Redis closed; anything longer is the fallback's job."""
    async_client = redis.asyncio.Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=redis.asyncio.retry.Retry(NoBackoff(), 1),
    )
    sync_client = redis.Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=redis.retry.Retry(NoBackoff(), 1),
    )
    return async_client, sync_client


@asynccontextmanager
async def shared_state(
    settings: Settings,
    *,
    metrics: Metrics | None = None,
    clock: Clock | None = None,
    prefix: str | None = None,
    timeout_s: float = REDIS_TIMEOUT_S,
    reservation_ttl_s: float = RESERVATION_TTL_S,
) -> AsyncIterator[SharedState | None]:
    """Shared state when ``settings.redis_url`` is set, else ``None``. A Redis that does not answer
    at start is not an error: the replica starts degraded and joins when Redis comes."""
    url: object = settings.redis_url
    if isinstance(url, SecretStr):  # the URL may carry a password; settings may come to mask it
        url = url.get_secret_value()
    if not isinstance(url, str) or not url:
        yield None
        return
    client, sync_client = redis_clients(url, timeout_s=timeout_s)
    prefix = prefix or settings.redis_prefix
    health = RedisHealth(replicas=settings.replicas)
    locks = RedisLocks(client, health=health, prefix=prefix)
    state = SharedState(
        client=client,
        sync_client=sync_client,
        health=health,
        locks=locks,
        tokens=SharedTokens(client, health=health, locks=locks, prefix=prefix),
        replicas=settings.replicas,
        prefix=prefix,
        clock=clock or LoopClock(),
        reservation_ttl_s=reservation_ttl_s,
    )
    collector = SharedStateCollector(state)
    if metrics is not None:
        metrics.registry.register(collector)
    await state.ping()
    try:
        yield state
    finally:
        if metrics is not None:
            metrics.registry.unregister(collector)
        await client.aclose()
        sync_client.close()
