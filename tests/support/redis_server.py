"""Real Redis for the shared-state tests: the machine's server on 6379, or a private one to kill.

Lua must run on a real Redis (fakeredis' Lua differs; resilience.md §3), so these tests talk to
``redis-server``. Tests that only need *a* Redis use the shared one on 127.0.0.1:6379 under a key
prefix of their own, deleted afterwards; tests that stop Redis mid-run start their own server on
a spare port, so they never disturb anyone else's.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import redis
import redis.asyncio
from redis.backoff import NoBackoff
from redis.retry import Retry

if TYPE_CHECKING:
    from storelink.resilience.shared import SharedState

__all__ = [
    "SHARED_REDIS_URL",
    "RedisServer",
    "clear_of_the_hour",
    "drop_prefix",
    "free_port",
    "redis_answers",
    "shared_again",
]

SHARED_REDIS_URL = "redis://127.0.0.1:6379/0"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def redis_answers(url: str = SHARED_REDIS_URL) -> bool:
    client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


async def shared_again(shared: SharedState, *, within_s: float = 10.0) -> bool:
    """Wait for a replica to notice that Redis is back (its probe backs off 0.5, 1, 2 s …)."""
    for _ in range(int(within_s / 0.1)):
        if not shared.status().degraded:
            return True
        await asyncio.sleep(0.1)
    return not shared.status().degraded


async def clear_of_the_hour(url: str = SHARED_REDIS_URL, *, margin_s: float = 15.0) -> None:
    """Wait out the last ``margin_s`` of Redis' hour if its clock is there.

    The GA4 gate's hourly token windows run on Redis' clock (``TIME``), which time-machine cannot
    move, and without a moved clock the GA4 fake's hours are the same real hours: a test that counts
    within one hour must not straddle the full hour, where the window rolls over (and a hold rightly
    lifts, as it most likely did in the stop-28 CI run that failed)."""
    client = redis.asyncio.Redis.from_url(url)
    try:
        seconds, micros = await client.time()
    finally:
        await client.aclose()
    left = 3600 - (seconds % 3600 + micros / 1e6)
    if left < margin_s:
        await asyncio.sleep(left + 0.1)


def drop_prefix(url: str, prefix: str) -> None:
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


class RedisServer:
    """A throwaway ``redis-server`` on a spare port: started, shut down and restarted at will."""

    def __init__(self, port: int | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise FileNotFoundError("redis-server is not installed")
        self.binary = binary
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="storelink-redis-"))

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        subprocess.run(  # noqa: S603  (a fixed local binary)
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "yes",
                "--dir",
                str(self.dir),
                "--logfile",
                str(self.dir / "redis.log"),
                "--pidfile",
                str(self.dir / "redis.pid"),
            ],
            check=True,
        )
        for _ in range(100):
            if redis_answers(self.url):
                return
            time.sleep(0.02)
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def cleanup(self) -> None:
        """Remove the server's directory (its log and pid file); call after :meth:`stop`."""
        shutil.rmtree(self.dir, ignore_errors=True)

    def stop(self) -> None:
        client = redis.Redis(port=self.port, socket_timeout=1.0, retry=Retry(NoBackoff(), 0))
        try:
            client.shutdown(nosave=True)
        except (redis.RedisError, OSError):
            pass  # already gone, or the connection closed as it went
        finally:
            client.close()
        for _ in range(100):
            if not redis_answers(self.url):
                return
            time.sleep(0.02)
        raise RuntimeError(f"redis-server on port {self.port} did not stop")


# -- a replica in its own process, for the multi-process tests --------------------------------------
def _skew_clocks(offset_s: float) -> None:
    """Shift this process's wall and monotonic clocks by ``offset_s`` (the event loop reads
    ``time.monotonic``): a replica whose clock is wrong. Nothing shared may depend on them."""
    real_time, real_time_ns = time.time, time.time_ns
    real_mono, real_mono_ns = time.monotonic, time.monotonic_ns
    shift_ns = int(offset_s * 1e9)
    time.time = lambda: real_time() + offset_s
    time.time_ns = lambda: real_time_ns() + shift_ns
    time.monotonic = lambda: real_mono() + offset_s
    time.monotonic_ns = lambda: real_mono_ns() + shift_ns


def _num(args: dict[str, object], key: str) -> float:
    """A number from a child's JSON arguments."""
    value = args[key]
    assert isinstance(value, int | float), (key, value)
    return float(value)


def _count(args: dict[str, object], key: str) -> int:
    """A whole number from a child's JSON arguments."""
    value = args[key]
    assert isinstance(value, int), (key, value)
    return value


async def _reserve_loop(args: dict[str, object]) -> dict[str, object]:
    """Join a barrier of ``replicas`` processes in Redis, then reserve from one shared bucket in
    ``tasks`` concurrent loops for ``seconds``, waiting each reservation out like the pipeline.
    Records each admission (Redis time it may send, cost) and when it was really sent (Redis TIME
    after the wait)."""
    import asyncio

    import redis.asyncio as aioredis

    from storelink.resilience.redis_limiter import EPOCH, RedisBucketLimiter

    client = aioredis.Redis.from_url(str(args["url"]))
    prefix = str(args["prefix"])
    limiter = RedisBucketLimiter(
        client,
        bucket="skew",
        rate=_num(args, "rate"),
        capacity=_num(args, "capacity"),
        prefix=prefix,
    )
    await client.incr(f"{prefix}barrier")
    while int(await client.get(f"{prefix}barrier") or 0) < _count(args, "replicas"):  # noqa: ASYNC110  (a barrier across processes)
        await asyncio.sleep(0.005)
    admitted: list[tuple[float, float, float]] = []
    loop = asyncio.get_running_loop()
    stop = loop.time() + _num(args, "seconds")

    async def one() -> None:
        while loop.time() < stop:
            reservation = await limiter.reserve(_num(args, "cost"))
            await asyncio.sleep(reservation.wait_s)
            seconds, micros = await client.time()
            admitted.append((reservation.admit_at, reservation.cost, seconds - EPOCH + micros / 1e6))
            await limiter.settle(reservation, None)

    await asyncio.gather(*(one() for _ in range(_count(args, "tasks"))))
    await client.aclose()
    return {"admitted": admitted, "wall": time.time(), "mono": time.monotonic()}


def _crash_holding_reservation(args: dict[str, object]) -> None:
    """Reserve, say so, and die without settling: a replica that crashed mid-call."""
    import asyncio
    import os
    import signal

    import redis.asyncio as aioredis

    from storelink.resilience.redis_limiter import RedisBucketLimiter

    async def run() -> None:
        client = aioredis.Redis.from_url(str(args["url"]))
        limiter = RedisBucketLimiter(
            client,
            bucket=str(args["bucket"]),
            rate=_num(args, "rate"),
            capacity=_num(args, "capacity"),
            prefix=str(args["prefix"]),
            reservation_ttl_s=_num(args, "ttl"),
        )
        await limiter.reserve(_num(args, "cost"))
        print("reserved", flush=True)

    asyncio.run(run())
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    import asyncio
    import json
    import sys

    command, raw = sys.argv[1], json.loads(sys.argv[2])
    if command == "reserve-loop":
        _skew_clocks(float(raw.get("skew", 0.0)))
        print(json.dumps(asyncio.run(_reserve_loop(raw))))
    elif command == "crash":
        _crash_holding_reservation(raw)
    else:
        raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    main()
