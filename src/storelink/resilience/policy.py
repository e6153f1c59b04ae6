"""The one place a pipeline is built: an upstream's knobs in, its :class:`ResilientTransport` out.

Every upstream (the connectors, the store's own site, the LLM endpoint) has its knobs, a
:class:`~storelink.settings.ConnectorKnobs` read from ``STORELINK_<UPSTREAM>_<KNOB>``; the knobs'
defaults in settings.py are the only defaults. :func:`build_pipeline` turns them into the
pipeline's parts: timeouts, deadline, bulkhead and cache TTL (:class:`Policy`), retries
(:class:`RetryPolicy` and a :class:`RetryBudget`), the :class:`CircuitBreaker` and the rate
limiter. What is not a knob is an argument: the upstream's classifier, authenticator and cache, a
limiter of its own (a quota model) and how its retry budget refills. A pipeline is never changed
once built; an upstream that learns a new pace (the site's ``Crawl-delay``) builds a new one.
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

import httpx2

from storelink.clock import Clock
from storelink.observability.metrics import Metrics
from storelink.resilience.breaker import BreakerPolicy, CircuitBreaker, Transition
from storelink.resilience.cache import ResponseCache
from storelink.resilience.classify import Classifier
from storelink.resilience.limiter import RateLimiter, TokenBucketLimiter
from storelink.resilience.pipeline import Authenticator, Policy, ResilientTransport
from storelink.resilience.retry import RetryBudget, RetryPolicy
from storelink.settings import ConnectorKnobs

if TYPE_CHECKING:
    from storelink.resilience.shared import SharedState

__all__ = [
    "RetryRefill",
    "breaker_policy",
    "build_pipeline",
    "call_policy",
    "client_timeout",
    "knob_limiter",
    "retry_budget",
    "retry_policy",
]

# How the retry budget refills: ``per_call`` earns ``retry_budget_ratio`` tokens with every first
# attempt; ``per_hour`` earns none from traffic and refills ``retry_budget_burst`` tokens an hour
# (GA4, whose server errors are a quota of 10 an hour per property).
RetryRefill = Literal["per_call", "per_hour"]


def retry_policy(knobs: ConnectorKnobs) -> RetryPolicy:
    return RetryPolicy(max_retries=knobs.max_retries, backoff_base=knobs.backoff_base, backoff_cap=knobs.backoff_cap)


def breaker_policy(knobs: ConnectorKnobs) -> BreakerPolicy:
    return BreakerPolicy(
        failure_rate=knobs.breaker_failure_rate,
        slow_call_rate=knobs.breaker_slow_call_rate,
        slow_call_s=knobs.breaker_slow_call_s,
        window=knobs.breaker_window,
        min_calls=knobs.breaker_min_calls,
        open_s=knobs.breaker_open_s,
        half_open_calls=knobs.breaker_half_open_calls,
    )


def call_policy(knobs: ConnectorKnobs) -> Policy:
    return Policy(
        attempt_timeout_s=knobs.timeout,
        connect_timeout_s=knobs.connect_timeout,
        deadline_s=knobs.deadline,
        max_in_flight=knobs.max_in_flight,
        cache_ttl_s=knobs.cache_ttl,
        retry=retry_policy(knobs),
    )


def knob_limiter(knobs: ConnectorKnobs, *, clock: Clock) -> TokenBucketLimiter:
    """The local token bucket the knobs describe (``rate_limit`` per second, ``rate_burst`` deep)."""
    return TokenBucketLimiter(rate=knobs.rate_limit, capacity=knobs.rate_burst, clock=clock)


def retry_budget(knobs: ConnectorKnobs, *, clock: Clock, refill: RetryRefill = "per_call") -> RetryBudget:
    if refill == "per_hour":
        return RetryBudget(
            ratio=0.0, burst=knobs.retry_budget_burst, clock=clock, refill_per_s=knobs.retry_budget_burst / 3600.0
        )
    return RetryBudget(ratio=knobs.retry_budget_ratio, burst=knobs.retry_budget_burst, clock=clock)


def client_timeout(knobs: ConnectorKnobs) -> httpx2.Timeout:
    """The timeout of the client over the pipeline (each attempt gets its own from the pipeline)."""
    return httpx2.Timeout(knobs.timeout, connect=knobs.connect_timeout)


def build_pipeline(
    inner: httpx2.AsyncBaseTransport,
    *,
    connector: str,
    knobs: ConnectorKnobs,
    classifier: Classifier,
    clock: Clock,
    metrics: Metrics,
    limiter: RateLimiter | None = None,
    shared: SharedState | None = None,
    breaker: CircuitBreaker | None = None,
    breaker_name: str = "",
    on_breaker_transition: Transition | None = None,
    retry_refill: RetryRefill = "per_call",
    cache: ResponseCache | None = None,
    partition: str = "",
    auth: Authenticator | None = None,
    random: Callable[[], float] = _random.random,
) -> ResilientTransport:
    """The pipeline of one upstream, all of it from ``knobs`` but what is passed here.

    ``limiter`` replaces the knobs' token bucket (an upstream's own quota model); with ``shared``
    (replicas sharing state through Redis) it is shared under ``connector`` and ``partition``.
    ``breaker`` carries an existing breaker, and its state, into a rebuilt pipeline; otherwise one
    is made from the knobs, named ``breaker_name`` (``connector`` when empty)."""
    limiter = limiter or knob_limiter(knobs, clock=clock)
    if shared is not None:
        limiter = shared.limiter_for(connector, limiter, partition=partition)
    breaker = breaker or CircuitBreaker(
        breaker_policy(knobs), clock=clock, name=breaker_name or connector, on_transition=on_breaker_transition
    )
    return ResilientTransport(
        inner,
        connector=connector,
        policy=call_policy(knobs),
        classifier=classifier,
        clock=clock,
        metrics=metrics,
        limiter=limiter,
        breaker=breaker,
        budget=retry_budget(knobs, clock=clock, refill=retry_refill),
        cache=cache,
        partition=partition,
        auth=auth,
        random=random,
    )
