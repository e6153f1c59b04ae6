"""The GA4 limiter alone, on a fake clock: the server-error gate, token floors, quota windows."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from storelink.auth.tokens import WallClock
from storelink.clock import FakeClock
from storelink.connectors.ga4.errors import Ga4QuotaHint, QuotaReading
from storelink.connectors.ga4.pacing import Ga4QuotaLimiter
from storelink.errors import ConnectorError, ErrorKind
from storelink.resilience.deadline import Deadline

# 10:30 UTC (02:30 in Los Angeles): the hour resets in 30 minutes, the Pacific day in 21.5 hours.
ANCHOR = dt.datetime(2026, 11, 25, 10, 30, tzinfo=dt.UTC).timestamp()


def limiter(clock: FakeClock) -> Ga4QuotaLimiter:
    return Ga4QuotaLimiter(clock=clock, wall=WallClock(clock, anchor=ANCHOR), rate=1000, burst=1000)


def report(remaining: dict[str, float], consumed: float = 5) -> Ga4QuotaHint:
    buckets = {name: QuotaReading(consumed, value) for name, value in remaining.items()}
    return Ga4QuotaHint(available=0, maximum=0, restore_per_s=0, buckets=buckets)


SERVER_ERROR = Ga4QuotaHint(available=0, maximum=0, restore_per_s=0, server_error=True)


async def test_nine_attempts_at_once_while_no_server_error_was_seen() -> None:
    clock = FakeClock()
    lim = limiter(clock)
    held = [await lim.reserve(5) for _ in range(9)]
    tenth = asyncio.create_task(lim.reserve(5))
    await asyncio.sleep(0)
    assert not tenth.done()  # a tenth failure could leave no server error to spare
    await lim.settle(held[0], None)
    assert (await asyncio.wait_for(tenth, 1)).wait_s == 0


async def test_fewer_attempts_as_server_errors_accrue_then_none() -> None:
    clock = FakeClock()
    lim = limiter(clock)
    for _ in range(7):
        await lim.settle(await lim.reserve(5), SERVER_ERROR)
    assert lim.server_errors_left() == 3
    first, second = await lim.reserve(5), await lim.reserve(5)  # if both fail, one is left
    third = asyncio.create_task(lim.reserve(5))
    await asyncio.sleep(0)
    assert not third.done()
    await lim.settle(first, SERVER_ERROR)  # 2 left, one in flight: still no turn
    await asyncio.sleep(0)
    assert not third.done()
    await lim.settle(second, SERVER_ERROR)  # 1 left: nothing may be sent until errors age out
    with pytest.raises(ConnectorError) as info:
        await third
    assert info.value.kind is ErrorKind.RATE_LIMITED
    assert "Nothing was sent" in info.value.message
    assert info.value.retry_after_s == pytest.approx(3600.0)
    clock.advance(3600)
    assert lim.server_errors_left() == 10
    assert (await lim.reserve(5)).wait_s == 0


async def test_a_replica_alone_spends_only_its_share_of_the_server_errors() -> None:
    """Redis down, three replicas: each may fail a third of the spare errors at once, and stops
    before three replicas failing together could spend the last one."""
    clock = FakeClock()
    lim = limiter(clock)
    lim.share = lambda: 1 / 3
    held = [await lim.reserve(5) for _ in range(3)]  # (10 - 1) / 3
    fourth = asyncio.create_task(lim.reserve(5))
    await asyncio.sleep(0)
    assert not fourth.done()
    fourth.cancel()
    for reservation in held:
        await lim.settle(reservation, SERVER_ERROR)
    for _ in range(4):
        await lim.settle(await lim.reserve(5), SERVER_ERROR)
    assert lim.server_errors_left() == 3  # (3 - 1) / 3 rounds down to none: three failures would lock it
    with pytest.raises(ConnectorError) as info:
        await lim.reserve(5)
    assert info.value.kind is ErrorKind.RATE_LIMITED and info.value.retry_after_s is not None


async def test_reported_server_errors_count_when_lower() -> None:
    clock = FakeClock()
    lim = limiter(clock)
    await lim.settle(await lim.reserve(5), report({"serverErrorsPerProjectPerHour": 1}))
    assert lim.server_errors_left() == 1  # other clients of the property spent the rest
    with pytest.raises(ConnectorError) as info:
        await lim.reserve(5)
    assert info.value.upstream_code == "serverErrorsPerProjectPerHour"


async def test_waiting_for_a_turn_gives_up_at_the_deadline() -> None:
    clock = FakeClock()
    lim = limiter(clock)
    for _ in range(5):
        await lim.settle(await lim.reserve(5), SERVER_ERROR)
    for _ in range(4):  # with 5 left, four at once
        await lim.reserve(5)
    with pytest.raises(ConnectorError) as info:
        await lim.reserve(5, deadline=Deadline.after(clock, 0.05))
    assert info.value.kind is ErrorKind.RATE_LIMITED


async def test_tokens_are_held_back_above_a_floor_until_the_hour_resets() -> None:
    clock = FakeClock()
    lim = limiter(clock)
    r = await lim.reserve(10)
    await lim.settle(r, report({"tokensPerHour": 40_000, "tokensPerDay": 150_000, "tokensPerProjectPerHour": 142}))
    assert lim.remaining("tokensPerProjectPerHour") == 142
    assert (await lim.reserve(5)).wait_s == pytest.approx(30 * 60)  # 142 − 5 < the 140-token floor
    clock.advance(30 * 60)
    assert lim.remaining("tokensPerProjectPerHour") == 14_000
    assert (await lim.reserve(5)).wait_s == 0


async def test_daily_tokens_return_at_midnight_pacific() -> None:
    clock = FakeClock()
    lim = limiter(clock)
    await lim.settle(await lim.reserve(5), report({"tokensPerDay": 100}))
    assert (await lim.reserve(5)).wait_s == pytest.approx(21.5 * 3600)


async def test_reservations_in_flight_count_against_the_tokens() -> None:
    clock = FakeClock()
    lim = limiter(clock)
    await lim.settle(await lim.reserve(5), report({"tokensPerProjectPerHour": 200}))
    first = await lim.reserve(40)
    assert first.wait_s == 0  # 200 − 40 ≥ 140
    second = await lim.reserve(40)
    assert second.wait_s > 0  # 200 − 40 − 40 < 140
    await lim.cancel(first)
    await lim.cancel(second)
    assert (await lim.reserve(40)).wait_s == 0


async def test_answers_out_of_order_keep_the_lowest_remaining() -> None:
    clock = FakeClock()
    lim = limiter(clock)
    a, b = await lim.reserve(5), await lim.reserve(5)
    await lim.settle(b, report({"tokensPerHour": 39_000}))
    await lim.settle(a, report({"tokensPerHour": 39_500}))
    assert lim.remaining("tokensPerHour") == 39_000


async def test_exhausted_bucket_blocks_until_the_reset() -> None:
    clock = FakeClock()
    lim = limiter(clock)
    await lim.settle(
        await lim.reserve(5),
        Ga4QuotaHint(available=0, maximum=0, restore_per_s=0, exhausted="tokensPerHour", blocked_s=1800),
    )
    assert (await lim.reserve(5)).wait_s == pytest.approx(1800)


async def test_realtime_has_its_own_buckets() -> None:
    clock = FakeClock()
    lim = limiter(clock)
    await lim.settle(await lim.reserve(5), report({"tokensPerProjectPerHour": 100}))
    assert (await lim.reserve(5, operation="run_realtime_report")).wait_s == 0
    assert (await lim.reserve(5)).wait_s > 0


async def test_cost_estimate_is_learned_from_reports() -> None:
    clock = FakeClock()
    lim = limiter(clock)
    assert lim.estimate() == 10
    for _ in range(10):
        await lim.settle(await lim.reserve(lim.estimate()), report({"tokensPerHour": 30_000}, consumed=2))
    assert lim.estimate() == pytest.approx(2, abs=0.3)


async def test_a_bigger_property_is_learned() -> None:
    clock = FakeClock()
    lim = limiter(clock)
    await lim.settle(await lim.reserve(5), report({"tokensPerHour": 399_995, "serverErrorsPerProjectPerHour": 50}))
    assert lim.headroom() is not None
    assert lim.server_errors_left() == 50
