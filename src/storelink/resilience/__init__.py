"""The resilience layer: policies, classification, limiter, breaker, retries, cache, pipeline."""

from storelink.clock import Clock, FakeClock, LoopClock
from storelink.resilience.breaker import BreakerPolicy, BreakerState, CircuitBreaker
from storelink.resilience.cache import ResponseCache
from storelink.resilience.classify import Classifier, HttpClassifier, RateHint, Verdict, parse_retry_after
from storelink.resilience.deadline import Deadline
from storelink.resilience.limiter import RateLimiter, Reservation, TokenBucketLimiter
from storelink.resilience.pipeline import (
    OPTIONS_KEY,
    REPORT_KEY,
    Authenticator,
    CallOptions,
    CallReport,
    Policy,
    ResilientTransport,
)
from storelink.resilience.retry import RetryBudget, RetryPolicy

__all__ = [
    "OPTIONS_KEY",
    "REPORT_KEY",
    "Authenticator",
    "BreakerPolicy",
    "BreakerState",
    "CallOptions",
    "CallReport",
    "CircuitBreaker",
    "Classifier",
    "Clock",
    "Deadline",
    "FakeClock",
    "HttpClassifier",
    "LoopClock",
    "Policy",
    "RateHint",
    "RateLimiter",
    "Reservation",
    "ResilientTransport",
    "ResponseCache",
    "RetryBudget",
    "RetryPolicy",
    "TokenBucketLimiter",
    "Verdict",
    "parse_retry_after",
]
