"""The pipeline over the generic fake with a FaultPlan: each fault's kind, retries, deadline,
budget, writes, auth refresh, cache. Loop time is faked by looptime, so waits are exact."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from storelink.connectors.base import Connector
from storelink.errors import ConnectorError, ErrorKind
from storelink.fakes.faults import Fault, FaultPlan
from storelink.fakes.generic import GenericFake
from storelink.runtime import Runtime
from tests.conftest import open_generic_runtime
from tests.support.generic_connector import GenericConnector

pytestmark = pytest.mark.looptime


def loop_time() -> float:
    import asyncio

    return asyncio.get_running_loop().time()


def breaker_state(connector: Connector) -> str:
    """The breaker's state now. (A function, not the attribute inline: mypy would carry the state
    one assert saw past the calls that change it.)"""
    return connector.breaker.state.value


async def test_success_envelope_has_meta(runtime: Runtime) -> None:
    envelope = await runtime.registry.get("generic").call("list_items", {"per_page": 5})
    assert [i.id for i in envelope.data.items] == [1, 2, 3, 4, 5]
    assert envelope.meta.mode == "live"
    assert envelope.meta.attempts == 1
    assert envelope.meta.source == "network"
    assert envelope.meta.connector == "generic" and envelope.meta.operation == "list_items"


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        (Fault.RATE_LIMITED, ErrorKind.RATE_LIMITED),
        (Fault.SERVER_ERROR, ErrorKind.UNAVAILABLE),
        (Fault.BAD_GATEWAY, ErrorKind.UNAVAILABLE),
        (Fault.UNAVAILABLE, ErrorKind.UNAVAILABLE),
        (Fault.GATEWAY_TIMEOUT, ErrorKind.UNAVAILABLE),
        (Fault.STALL, ErrorKind.TIMEOUT),
        (Fault.RESET, ErrorKind.UNAVAILABLE),
        (Fault.MALFORMED, ErrorKind.UPSTREAM_ERROR),
        (Fault.TRUNCATED, ErrorKind.UNAVAILABLE),
        (Fault.EXPIRED_TOKEN, ErrorKind.UNAUTHORIZED),
    ],
)
async def test_each_fault_maps_to_its_kind(runtime: Runtime, fake: GenericFake, fault: Fault, kind: ErrorKind) -> None:
    fake.faults = FaultPlan(rates={fault: 1.0}, retry_after_s=0.1)
    with pytest.raises(ConnectorError) as info:
        await runtime.registry.get("generic").call("list_items", {})
    err = info.value
    assert err.kind is kind
    assert err.connector == "generic" and err.operation == "list_items"
    assert err.message  # says something


async def test_retry_honours_retry_after(runtime: Runtime, fake: GenericFake) -> None:
    fake.faults = FaultPlan.scripted("429", "429", retry_after_s=3.0)
    started = loop_time()
    envelope = await runtime.registry.get("generic").call("list_items", {})
    assert envelope.meta.attempts == 3
    # Two waits of exactly Retry-After, not the 0.5 s-based backoff.
    assert loop_time() - started == pytest.approx(6.0, abs=0.01)
    assert runtime.metrics.counter_value("storelink_throttles", connector="generic") == 2
    assert runtime.metrics.counter_value("storelink_retries", connector="generic", reason="rate_limited") == 2


async def test_backoff_without_hint_is_full_jitter(runtime: Runtime, fake: GenericFake) -> None:
    fake.faults = FaultPlan.scripted("503", "503")
    started = loop_time()
    envelope = await runtime.registry.get("generic").call("list_items", {})
    assert envelope.meta.attempts == 3
    # random() is 0.5: waits are 0.5 × min(8, 0.5·2⁰) and 0.5 × min(8, 0.5·2¹).
    assert loop_time() - started == pytest.approx(0.25 + 0.5, abs=0.01)


async def test_retries_stop_at_max(runtime: Runtime, fake: GenericFake) -> None:
    fake.faults = FaultPlan(rates={Fault.SERVER_ERROR: 1.0})
    with pytest.raises(ConnectorError) as info:
        await runtime.registry.get("generic").call("list_items", {})
    assert info.value.kind is ErrorKind.UNAVAILABLE
    assert fake.stats["GET /v1/items"] == 4  # 1 + max_retries (3)


async def test_retry_never_waits_past_the_deadline(tmp_path: Path, fake: GenericFake) -> None:
    from tests.conftest import open_generic_runtime

    async with open_generic_runtime(tmp_path, fake, deadline=5.0) as rt:
        fake.faults = FaultPlan.scripted("429", "429", retry_after_s=4.0)
        started = loop_time()
        with pytest.raises(ConnectorError) as info:
            await rt.registry.get("generic").call("list_items", {})
        # One wait of 4 s fits in the 5 s deadline; the second would not, so the call gives up
        # at once with the upstream's wait as its hint instead of sleeping past the deadline.
        assert loop_time() - started == pytest.approx(4.0, abs=0.01)
        assert info.value.kind is ErrorKind.RATE_LIMITED
        assert info.value.retry_after_s == pytest.approx(4.0)
        assert fake.stats["GET /v1/items"] == 2


async def test_stall_is_cut_by_the_attempt_timeout(tmp_path: Path, fake: GenericFake) -> None:
    from tests.conftest import open_generic_runtime

    async with open_generic_runtime(tmp_path, fake, timeout=2.0, deadline=5.0, max_retries=5) as rt:
        fake.faults = FaultPlan(rates={Fault.STALL: 1.0})
        started = loop_time()
        with pytest.raises(ConnectorError) as info:
            await rt.registry.get("generic").call("list_items", {})
        assert info.value.kind is ErrorKind.TIMEOUT
        assert loop_time() - started <= 5.0 + 1e-6


async def test_retry_budget_bounds_retries(tmp_path: Path, fake: GenericFake) -> None:
    from tests.conftest import open_generic_runtime

    async with open_generic_runtime(tmp_path, fake, retry_budget_burst=2.0, retry_budget_ratio=0.0) as rt:
        fake.faults = FaultPlan(rates={Fault.SERVER_ERROR: 1.0})
        connector = rt.registry.get("generic")
        for _ in range(3):
            with pytest.raises(ConnectorError):
                await connector.call("list_items", {})
        # 3 first attempts + only the 2 retries the budget held.
        assert fake.stats["GET /v1/items"] == 5
        assert rt.metrics.counter_value("storelink_retries", connector="generic") == 2


async def test_writes_are_not_retried_after_5xx_or_timeout(runtime: Runtime, fake: GenericFake) -> None:
    for fault in ("500", "stall"):
        fake.faults = FaultPlan.scripted(fault)
        fake.stats.clear()
        with pytest.raises(ConnectorError):
            await runtime.registry.get("generic").call("send_message", {"text": "hi"})
        assert fake.stats["POST /v1/messages"] == 1


async def test_write_is_retried_after_429_because_nothing_was_done(runtime: Runtime, fake: GenericFake) -> None:
    fake.faults = FaultPlan.scripted("429", retry_after_s=1.0)
    envelope = await runtime.registry.get("generic").call("send_message", {"text": "hi"})
    assert envelope.meta.attempts == 2
    assert len(fake.deliveries) == 1


async def test_idempotent_write_is_retried_and_delivered_once(tmp_path: Path) -> None:
    from tests.conftest import open_generic_runtime

    fake = GenericFake(honour_idempotency=True)
    async with open_generic_runtime(tmp_path, fake) as rt:
        # A first call delivers under key k1; the same logical call is then sent again and meets a
        # 500: because the upstream honours the key, the pipeline retries, and the retry returns
        # the recorded result instead of delivering a second time.
        connector = rt.registry.get("generic")
        first = await connector.call("send_message", {"text": "hi", "idempotency_key": "k1"})
        fake.faults = FaultPlan.scripted("500")
        second = await connector.call("send_message", {"text": "hi", "idempotency_key": "k1"})
        assert second.meta.attempts == 2
        assert first.data == second.data
        assert len(fake.deliveries) == 1


async def test_unauthorized_refreshes_once_then_retries(runtime: Runtime, fake: GenericFake) -> None:
    connector = runtime.registry.get("generic")
    assert isinstance(connector, GenericConnector)
    auth = connector.auth
    fake.tokens = frozenset({"rotated-token"})
    auth.next_token = "rotated-token"
    envelope = await connector.call("get_item", {"item_id": 3})
    assert envelope.data.id == 3
    assert auth.refreshes == 1
    assert envelope.meta.attempts == 2


async def test_unauthorized_without_fresh_credentials_names_the_setting(runtime: Runtime, fake: GenericFake) -> None:
    fake.tokens = frozenset({"other"})
    with pytest.raises(ConnectorError) as info:
        await runtime.registry.get("generic").call("get_item", {"item_id": 3})
    assert info.value.kind is ErrorKind.UNAUTHORIZED
    assert "GENERIC_TOKEN" in info.value.message
    assert info.value.retryable is False


async def test_not_found_and_invalid_params(runtime: Runtime) -> None:
    connector = runtime.registry.get("generic")
    with pytest.raises(ConnectorError) as info:
        await connector.call("get_item", {"item_id": 999})
    assert info.value.kind is ErrorKind.NOT_FOUND
    with pytest.raises(ConnectorError) as info:
        await connector.call("get_item", {"item_id": "not a number"})
    assert info.value.kind is ErrorKind.INVALID_REQUEST
    assert "item_id" in info.value.message
    with pytest.raises(ConnectorError) as info:
        await connector.call("no_such_operation", {})
    assert info.value.kind is ErrorKind.INVALID_REQUEST
    assert "list_items" in info.value.message


async def test_fresh_cache_hit_then_304_revalidation(runtime: Runtime, fake: GenericFake) -> None:
    connector = runtime.registry.get("generic")
    params = {"per_page": 3, "cache_ttl_s": 60.0}
    first = await connector.call("list_items", params)
    assert first.meta.source == "network"
    second = await connector.call("list_items", params)
    assert second.meta.source == "cache-fresh"
    assert second.data == first.data
    assert fake.stats["GET /v1/items"] == 1
    # Let the entry go stale (the cache keeps wall time): the next call revalidates with
    # If-None-Match and gets a 304.
    runtime.cache.expire()
    third = await connector.call("list_items", params)
    assert third.meta.source == "cache-revalidated"
    assert third.data == first.data
    assert fake.conditional_hits == 1
    m = runtime.metrics
    assert m.counter_value("storelink_cache", connector="generic", result="fresh") == 1
    assert m.counter_value("storelink_cache", connector="generic", result="revalidated") == 1
    assert m.counter_value("storelink_cache", connector="generic", result="miss") == 1


async def test_changed_resource_is_refetched_after_staleness(runtime: Runtime, fake: GenericFake) -> None:
    connector = runtime.registry.get("generic")
    params = {"per_page": 3, "cache_ttl_s": 60.0}
    await connector.call("list_items", params)
    fake.touch(2)
    runtime.cache.expire()
    again = await connector.call("list_items", params)
    assert again.meta.source == "network"
    assert again.data.items[1].version == 2


async def test_metrics_count_outcomes(runtime: Runtime, fake: GenericFake) -> None:
    connector = runtime.registry.get("generic")
    await connector.call("list_items", {})
    with pytest.raises(ConnectorError):
        await connector.call("get_item", {"item_id": 999})
    m = runtime.metrics
    assert m.counter_value("storelink_requests", connector="generic", outcome="ok") == 1
    assert m.counter_value("storelink_requests", connector="generic", outcome="not_found") == 1
    snap = m.snapshot()["connectors"]["generic"]
    assert snap["windows"]["1m"]["count"] == 2
    assert snap["windows"]["1m"]["errors"] == 0  # not_found is the caller's mistake, not an upstream error


async def test_breaker_cycle_through_the_pipeline(tmp_path: Path, fake: GenericFake) -> None:
    from tests.conftest import open_generic_runtime

    # Window 4, minimum 4, 50 % failures, open 20 s, 2 probes; no retries so each call is one attempt.
    async with open_generic_runtime(tmp_path, fake, max_retries=0) as rt:
        connector = rt.registry.get("generic")
        fake.faults = FaultPlan.scripted("500", "500", "ok", "ok")
        for _ in range(4):
            with contextlib.suppress(ConnectorError):
                await connector.call("list_items", {})
        assert breaker_state(connector) == "open"
        sent = fake.stats["GET /v1/items"]
        with pytest.raises(ConnectorError) as info:
            await connector.call("list_items", {})
        assert info.value.kind is ErrorKind.CIRCUIT_OPEN
        assert fake.stats["GET /v1/items"] == sent  # failed fast: nothing sent
        import asyncio

        await asyncio.sleep(20.0)
        await connector.call("list_items", {})
        assert breaker_state(connector) == "half_open"
        await connector.call("list_items", {})
        assert breaker_state(connector) == "closed"
        m = rt.metrics
        assert m.counter_value("storelink_breaker_transitions", connector="generic", to_state="open") == 1
        assert m.counter_value("storelink_breaker_transitions", connector="generic", to_state="closed") == 1
        assert m.counter_value("storelink_requests", connector="generic", outcome="circuit_open") == 1


async def test_not_found_does_not_trip_the_breaker(tmp_path: Path, fake: GenericFake) -> None:
    from tests.conftest import open_generic_runtime

    async with open_generic_runtime(tmp_path, fake) as rt:
        connector = rt.registry.get("generic")
        for _ in range(6):
            with pytest.raises(ConnectorError):
                await connector.call("get_item", {"item_id": 999})
        assert breaker_state(connector) == "closed"


async def test_concurrent_calls_respect_the_local_rate(tmp_path: Path, fake: GenericFake) -> None:
    import asyncio

    from tests.conftest import open_generic_runtime

    async with open_generic_runtime(tmp_path, fake, rate_limit=5.0, rate_burst=5.0) as rt:
        connector = rt.registry.get("generic")
        started = loop_time()
        await asyncio.gather(*(connector.call("list_items", {}) for _ in range(25)))
        # 5 at once from the burst, then 20 more at 5/s.
        assert loop_time() - started == pytest.approx(4.0, abs=0.01)
        assert rt.metrics.counter_value("storelink_limiter_wait_seconds", connector="generic") > 0


async def test_time_queued_at_the_limiter_is_not_upstream_slowness(tmp_path: Path, fake: GenericFake) -> None:
    """Eight calls queue behind a one-per-second bucket (the last waits 7 s) at an upstream that
    answers at once: the breaker judges the upstream, so none counts as slow and it stays closed."""
    knobs = {
        "rate_limit": 1.0,
        "rate_burst": 1.0,
        "breaker_slow_call_s": 1.0,
        "breaker_slow_call_rate": 50.0,
        "breaker_window": 4,
        "breaker_min_calls": 4,
    }
    async with open_generic_runtime(tmp_path, fake, **knobs) as rt:
        connector = rt.registry.get("generic")
        started = loop_time()
        await asyncio.gather(*(connector.call("list_items", {"page": n}) for n in range(1, 9)))
        assert loop_time() - started == pytest.approx(7.0, abs=0.1)  # they did queue
        assert breaker_state(connector) == "closed"
        envelope = await connector.call("list_items", {"page": 9})
    assert envelope.meta.attempts == 1
