"""The shared bucket in Redis, against the real server: never more than its rate across processes
with skewed clocks, expiry of a dead replica's reservation, reconciliation from server hints, and
the same answers as the local token bucket for the same sequence of calls."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from storelink.clock import FakeClock
from storelink.errors import ConnectorError, ErrorKind
from storelink.resilience.classify import RateHint
from storelink.resilience.limiter import TokenBucketLimiter
from storelink.resilience.redis_limiter import RedisBucketLimiter, bucket_keys
from tests.support.redis_server import SHARED_REDIS_URL, drop_prefix, redis_answers

pytestmark = pytest.mark.skipif(
    not redis_answers(SHARED_REDIS_URL), reason="no Redis answers on 127.0.0.1:6379 (.ci/run starts one)"
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def prefix() -> str:
    return f"storelink-test:{uuid.uuid4().hex[:12]}:"


@pytest.fixture
async def client(prefix: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(SHARED_REDIS_URL)
    yield client
    await client.aclose()
    drop_prefix(SHARED_REDIS_URL, prefix)


def limiter(client: aioredis.Redis, prefix: str, *, rate: float = 10.0, capacity: float = 100.0) -> RedisBucketLimiter:
    return RedisBucketLimiter(client, bucket="shopify:abc", prefix=prefix, rate=rate, capacity=capacity)


def run_worker(command: str, args: dict[str, object]) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")])}
    return subprocess.Popen(  # noqa: S603  (our own test helper)
        [sys.executable, "-m", "tests.support.redis_server", command, json.dumps(args)],
        stdout=subprocess.PIPE,
        cwd=ROOT,
        env=env,
    )


@pytest.mark.slow
def test_three_processes_with_skewed_clocks_never_exceed_the_rate(prefix: str) -> None:
    """Three replicas whose clocks are −2 s, 0 and +2 s off (wall and monotonic) reserve from one
    bucket, four loops each, for 2 s. Every admission is timed on the Redis clock (when it may
    send), and over every interval [a, b] the cost admitted is at most capacity + rate·(b − a)."""
    rate, capacity, cost, seconds = 40.0, 5.0, 1.0, 2.0
    common = {"url": SHARED_REDIS_URL, "prefix": prefix, "rate": rate, "capacity": capacity, "cost": cost}
    workers = [
        run_worker("reserve-loop", {**common, "skew": skew, "seconds": seconds, "tasks": 4, "replicas": 3})
        for skew in (-2.0, 0.0, 2.0)
    ]
    try:
        results = [json.loads(w.communicate(timeout=60)[0]) for w in workers]
    finally:
        drop_prefix(SHARED_REDIS_URL, prefix)
    assert all(w.returncode == 0 for w in workers)
    # The skew was real: the processes' own clocks disagree by about 4 s.
    walls = sorted(r["wall"] for r in results)
    assert walls[-1] - walls[0] > 3.5

    events = sorted((at, c) for r in results for at, c, _ in r["admitted"])
    times = [at for at, _ in events]
    costs = [c for _, c in events]
    for i in range(len(events)):
        total = 0.0
        for j in range(i, len(events)):
            total += costs[j]
            assert total <= capacity + rate * (times[j] - times[i]) + 1e-6, (i, j, total)
    # … and the bucket was saturated, not idle: nearly capacity + rate·T was admitted.
    span = times[-1] - times[0]
    assert sum(costs) >= 0.9 * (capacity + rate * span)
    assert span >= seconds * 0.9
    # Each replica slept its wait on its own (skewed) clock and still sent no earlier than admitted.
    for r in results:
        for admit_at, _, sent_at in r["admitted"]:
            assert sent_at >= admit_at - 0.005


@pytest.mark.slow
async def test_a_crashed_replicas_reservation_expires(client: aioredis.Redis, prefix: str) -> None:
    """A replica reserves 30 and is killed before settling: its reservation is owed (so the next
    hint leaves room for it) until its expiry, and then no more."""
    worker = run_worker(
        "crash",
        {
            "url": SHARED_REDIS_URL,
            "prefix": prefix,
            "bucket": "shopify:abc",
            "rate": 10.0,
            "capacity": 100.0,
            "cost": 30.0,
            "ttl": 0.6,
        },
    )
    out, _ = worker.communicate(timeout=30)
    assert out.decode().strip() == "reserved"
    assert worker.returncode == -9  # SIGKILL: no cleanup ran
    _, reservations_key = bucket_keys(prefix, "shopify:abc")
    assert await client.zcard(reservations_key) == 1

    live = limiter(client, prefix)
    hint = RateHint(available=80.0, maximum=100.0, restore_per_s=10.0, actual_cost=5.0)
    reservation = await live.reserve(5.0)
    await live.settle(reservation, hint)
    assert live.snapshot is not None
    assert live.snapshot.tokens == pytest.approx(80.0 - 30.0)  # the dead replica's 30 still owed
    assert live.snapshot.owed == pytest.approx(30.0)

    import asyncio

    await asyncio.sleep(0.7)
    reservation = await live.reserve(5.0)
    await live.settle(reservation, hint)
    assert live.snapshot.owed == 0.0
    assert live.snapshot.tokens == pytest.approx(80.0)
    assert await client.zcard(reservations_key) == 0


async def test_settle_overwrites_with_the_servers_figures_minus_what_others_owe(
    client: aioredis.Redis, prefix: str
) -> None:
    a, b = limiter(client, prefix), limiter(client, prefix)  # two replicas, one bucket
    ra = await a.reserve(30.0)
    rb = await b.reserve(20.0)
    assert a.snapshot is not None and a.snapshot.tokens == pytest.approx(70.0, abs=0.1)
    # Shopify reports its own bucket (a bigger plan) on a's response; b's 20 is still in flight.
    await a.settle(ra, RateHint(available=150.0, maximum=400.0, restore_per_s=20.0, actual_cost=25.0))
    snap = a.snapshot
    assert (snap.capacity, snap.rate, snap.reported) == (400.0, 20.0, True)
    assert snap.tokens == pytest.approx(150.0 - 20.0, abs=0.01)
    assert snap.owed == pytest.approx(20.0)
    # b never sent: its 20 comes back, and every replica sees the server's plan.
    await b.cancel(rb)
    assert b.snapshot is not None
    assert b.snapshot.tokens == pytest.approx(150.0, abs=0.1)
    assert b.snapshot.capacity == 400.0 and b.snapshot.owed == 0.0
    headroom = b.headroom()
    assert headroom is not None and headroom.maximum == 400.0 and headroom.restore_per_s == 20.0


async def test_waits_queue_in_order_and_refunds_follow_the_actual_cost(client: aioredis.Redis, prefix: str) -> None:
    slow = limiter(client, prefix, rate=0.001, capacity=100.0)  # refill negligible during the test
    first = await slow.reserve(60.0)
    second = await slow.reserve(60.0)
    assert first.wait_s == 0.0
    assert second.wait_s == pytest.approx(20.0 / 0.001, rel=1e-3)  # 20 short, at 0.001/s
    assert second.admit_at > first.admit_at
    # The first one really cost 10 (Shopify refunds the rest), with no bucket report.
    await slow.settle(first, RateHint(available=0.0, maximum=0.0, restore_per_s=0.0, actual_cost=10.0))
    assert slow.snapshot is not None and slow.snapshot.tokens == pytest.approx(-20.0 + 50.0, abs=0.01)
    with pytest.raises(ConnectorError) as info:
        await slow.reserve(101.0)
    assert info.value.kind is ErrorKind.INVALID_REQUEST
    assert "can never be admitted" in info.value.message


async def test_same_answers_as_the_local_bucket(client: aioredis.Redis, prefix: str) -> None:
    """One sequence of reserve / cancel / settle on the Redis bucket and on the local one: same
    waits, same tokens (refill is negligible at this rate; the local clock stands still)."""
    shared = limiter(client, prefix, rate=0.001, capacity=200.0)
    local = TokenBucketLimiter(rate=0.001, capacity=200.0, clock=FakeClock())
    hint = RateHint(available=120.0, maximum=300.0, restore_per_s=0.002, actual_cost=30.0)

    async def script(lim: TokenBucketLimiter | RedisBucketLimiter) -> list[float]:
        seen: list[float] = []
        r1 = await lim.reserve(80.0)
        r2 = await lim.reserve(90.0)
        r3 = await lim.reserve(70.0)
        seen += [r1.wait_s, r2.wait_s, r3.wait_s]
        await lim.cancel(r2)
        await lim.settle(r1, hint)
        r4 = await lim.reserve(100.0)
        seen.append(r4.wait_s)
        await lim.settle(r3, None)
        await lim.settle(r4, RateHint(available=10.0, maximum=300.0, restore_per_s=0.002, actual_cost=100.0))
        headroom = lim.headroom()
        assert headroom is not None
        seen += [headroom.available, headroom.maximum]
        return seen

    assert await script(shared) == pytest.approx(await script(local), rel=1e-3, abs=0.05)


async def test_no_client_clock_reaches_the_bucket(
    client: aioredis.Redis, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A replica whose clock is nonsense (a billion seconds off) and whose wall clock cannot even
    be read gets the same waits and tokens as a sane one: they come from Redis' TIME alone. (The
    replica's monotonic clock only extrapolates ``headroom`` for display between calls.)"""

    async def script(lim: RedisBucketLimiter) -> list[float]:
        first, second = await lim.reserve(60.0), await lim.reserve(60.0)
        await lim.settle(first, RateHint(available=50.0, maximum=100.0, restore_per_s=0.001, actual_cost=60.0))
        third = await lim.reserve(30.0)
        assert lim.snapshot is not None
        return [first.wait_s, second.wait_s, third.wait_s, lim.snapshot.tokens]

    sane = await script(RedisBucketLimiter(client, bucket="a", prefix=prefix, rate=0.001, capacity=100.0))

    def no_wall_clock() -> float:
        raise AssertionError("the shared limiter read the wall clock")

    monkeypatch.setattr("time.time", no_wall_clock)
    skewed = RedisBucketLimiter(
        client, bucket="b", prefix=prefix, rate=0.001, capacity=100.0, clock=FakeClock(start=-1e9)
    )
    assert await script(skewed) == pytest.approx(sane, abs=0.05)


async def test_keys_share_a_cluster_hash_tag(prefix: str) -> None:
    state, reservations = bucket_keys(prefix, "shopify:{odd} name")
    assert state.endswith("rl:{shopify:_odd__name}")
    assert reservations == state + ":res"
