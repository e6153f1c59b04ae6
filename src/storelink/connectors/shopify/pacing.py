"""Pacing to a shop's cost bucket (GraphQL Admin: points restored per second, a bucket that
Shopify reports on every response as ``extensions.cost.throttleStatus``)."""

from __future__ import annotations

from storelink.clock import Clock
from storelink.resilience.limiter import RateLimiter, TokenBucketLimiter
from storelink.settings import ConnectorKnobs

__all__ = ["cost_limiter"]


def cost_limiter(knobs: ConnectorKnobs, *, clock: Clock) -> RateLimiter:
    """Starts from the plan the knobs assume (Standard: 100 points/s, a 2000-point bucket) and
    becomes whatever Shopify reports after the first response."""
    return TokenBucketLimiter(rate=knobs.rate_limit, capacity=knobs.rate_burst, clock=clock, unit="points")
