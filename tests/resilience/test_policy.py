"""One builder turns an upstream's knobs into its pipeline; nothing changes a pipeline once built."""

from __future__ import annotations

import httpx2
import pytest

from storelink.clock import FakeClock
from storelink.errors import ConnectorError, ErrorKind
from storelink.observability.metrics import Metrics
from storelink.rag.fetch import SiteFetcher
from storelink.rag.synth import Synthesizer
from storelink.resilience.classify import HttpClassifier
from storelink.resilience.limiter import TokenBucketLimiter
from storelink.resilience.policy import build_pipeline
from storelink.settings import ConnectorKnobs, LlmKnobs, Settings


def _classifier() -> HttpClassifier:
    return HttpClassifier(title="Test", connector="test", credential_hint="")


def test_the_knobs_are_the_pipeline() -> None:
    knobs = ConnectorKnobs(timeout=4.0, deadline=12.0, max_retries=1, max_in_flight=3, breaker_window=7)
    pipeline = build_pipeline(
        httpx2.MockTransport(lambda r: httpx2.Response(200)),
        connector="test",
        knobs=knobs,
        classifier=_classifier(),
        clock=FakeClock(),
        metrics=Metrics(),
    )
    assert (pipeline.policy.attempt_timeout_s, pipeline.policy.deadline_s) == (4.0, 12.0)
    assert (pipeline.policy.max_in_flight, pipeline.policy.retry.max_retries) == (3, 1)
    assert pipeline.breaker.policy.window == 7
    assert isinstance(pipeline.limiter, TokenBucketLimiter)
    assert (pipeline.limiter.rate, pipeline.limiter.capacity) == (knobs.rate_limit, knobs.rate_burst)
    assert (pipeline.budget.ratio, pipeline.budget.refill_per_s) == (knobs.retry_budget_ratio, 0.0)


def test_an_hourly_retry_allowance_is_an_input() -> None:
    knobs = ConnectorKnobs(retry_budget_burst=5.0)
    pipeline = build_pipeline(
        httpx2.MockTransport(lambda r: httpx2.Response(200)),
        connector="test",
        knobs=knobs,
        classifier=_classifier(),
        clock=FakeClock(),
        metrics=Metrics(),
        retry_refill="per_hour",
    )
    assert pipeline.budget.ratio == 0.0
    assert pipeline.budget.refill_per_s == pytest.approx(5.0 / 3600.0)


async def test_the_llm_endpoint_follows_its_knobs() -> None:
    calls: list[str] = []

    def busy(request: httpx2.Request) -> httpx2.Response:
        calls.append(request.url.path)
        return httpx2.Response(503)

    settings = Settings(_env_file=None, llm_base_url="https://llm.test/v1", llm=LlmKnobs(max_retries=0))
    synthesizer = Synthesizer(settings, metrics=Metrics(), transport=httpx2.MockTransport(busy))
    try:
        with pytest.raises(ConnectorError) as raised:
            await synthesizer.answer("Do you ship to Canada?", [])
    finally:
        await synthesizer.aclose()
    assert raised.value.kind is ErrorKind.UNAVAILABLE
    assert calls == ["/v1/chat/completions"]  # STORELINK_LLM_MAX_RETRIES=0: no retry


async def test_a_crawl_delay_builds_a_new_pipeline_and_keeps_the_breaker() -> None:
    fetcher = SiteFetcher(
        Settings(_env_file=None),
        base_url="https://shop.example",
        inner=httpx2.MockTransport(lambda r: httpx2.Response(200)),
        metrics=Metrics(),
        cache=None,
        mode="live",
        clock=FakeClock(),
    )
    before = fetcher.transport
    fetcher.honour_crawl_delay(2.0)
    after = fetcher.transport
    assert after is not before and after.breaker is before.breaker
    assert isinstance(before.limiter, TokenBucketLimiter) and before.limiter.rate == fetcher.knobs.rate_limit
    assert isinstance(after.limiter, TokenBucketLimiter) and (after.limiter.rate, after.limiter.capacity) == (0.5, 1.0)
    fetcher.honour_crawl_delay(2.0)
    assert fetcher.transport is after  # the same pace: the same pipeline
    await fetcher.aclose()
