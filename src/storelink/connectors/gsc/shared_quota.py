"""Search Console's usage limits shared by every replica through Redis (issue 10).

The limits are per site and per user, so replicas must draw on one budget. :class:`SharedGscLimiter`
is the local :class:`~storelink.connectors.gsc.pacing.GscLimiter` with its three parts moved:

* each category's per-minute bucket becomes a Redis token bucket
  (:meth:`~storelink.resilience.shared.SharedState.token_bucket`), with this replica's share as
  its fallback;
* the daily inspection budget (2,000 per site per Pacific day) is one counter per day in Redis,
  taken and given back atomically;
* a throttling answer's hold is a key that expires when the hold ends, so every replica waits it
  out on Redis' clock rather than each learning it from a 429 of its own.

When Redis fails, each part falls back to the local limiter's own (at 1/``replicas`` of the daily
budget) and the shared :class:`~storelink.resilience.redis_health.RedisHealth` says so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from redis.asyncio import Redis

from storelink.connectors.gsc.pacing import GscLimiter
from storelink.resilience.limiter import TokenBucketLimiter
from storelink.resilience.redis_health import REDIS_ERRORS, RedisHealth
from storelink.resilience.redis_limiter import hash_tag

if TYPE_CHECKING:
    from storelink.resilience.shared import SharedState

__all__ = ["SharedGscLimiter"]

DAY_KEY_TTL_S = 2 * 86400

# KEYS[1] today's counter. ARGV[1] the daily limit, ARGV[2] the key's lifetime (s). 1 taken, 0 spent.
_TAKE = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
if n > tonumber(ARGV[1]) then
  redis.call('DECR', KEYS[1])
  return 0
end
return 1
"""

# KEYS[1] today's counter. Never below zero.
_GIVE_BACK = """
if tonumber(redis.call('GET', KEYS[1]) or 0) > 0 then redis.call('DECR', KEYS[1]) end
return 1
"""

# KEYS[1] the hold. ARGV[1] its length (ms). Only ever lengthened.
_HOLD = """
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
end
return 1
"""


class SharedGscLimiter(GscLimiter):
    def __init__(
        self, local: GscLimiter, client: Redis, *, health: RedisHealth, key: str, prefix: str, replicas: int
    ) -> None:
        super().__init__(clock=local.clock, wall=local.wall, rate=1.0, burst=1.0)
        self.buckets = dict(local.buckets)
        self.health = health
        self.shared_inspections_per_day = local.inspections_per_day
        # Alone (Redis down), this replica spends its share of the day's inspections.
        self.inspections_per_day = max(1, local.inspections_per_day // max(1, replicas))
        self._base = f"{prefix}gsc:{hash_tag(key)}"
        self._client = client
        self._take = client.register_script(_TAKE)
        self._give_back = client.register_script(_GIVE_BACK)
        self._hold = client.register_script(_HOLD)

    @classmethod
    def over(cls, local: GscLimiter, state: SharedState, key: str) -> SharedGscLimiter:
        limiter = cls(local, state.client, health=state.health, key=key, prefix=state.prefix, replicas=state.replicas)
        for category, bucket in local.buckets.items():
            if isinstance(bucket, TokenBucketLimiter):
                limiter.buckets[category] = state.token_bucket(f"{key}:{category}", bucket)
        return limiter

    def _day_key(self) -> str:
        return f"{self._base}:inspections:{self.pacific_today().isoformat()}"

    async def take_inspection(self) -> bool:
        if self.health.should_try():
            try:
                taken = await self._take(keys=[self._day_key()], args=[self.shared_inspections_per_day, DAY_KEY_TTL_S])
            except REDIS_ERRORS as exc:
                self.health.failed(exc)
            else:
                self.health.succeeded()
                return bool(int(taken))
        else:
            self.health.fell_back()
        return await super().take_inspection()

    async def give_back_inspection(self) -> None:
        if self.health.degraded:
            await super().give_back_inspection()
            return
        try:
            await self._give_back(keys=[self._day_key()])
        except REDIS_ERRORS as exc:
            self.health.failed(exc)

    async def hold(self, category: str, seconds: float) -> None:
        await super().hold(category, seconds)  # kept locally too: it holds if Redis goes away
        if self.health.degraded:
            return
        try:
            await self._hold(keys=[f"{self._base}:hold:{category}"], args=[max(1, int(seconds * 1000))])
        except REDIS_ERRORS as exc:
            self.health.failed(exc)

    async def hold_wait(self, category: str) -> float:
        local = await super().hold_wait(category)
        if not self.health.should_try():
            return local
        try:
            left_ms = await self._client.pttl(f"{self._base}:hold:{category}")
        except REDIS_ERRORS as exc:
            self.health.failed(exc)
            return local
        self.health.succeeded()
        return max(local, int(left_ms) / 1000.0)
