"""A GA4 property's quotas shared by every replica through Redis (issue 10).

GA4's quotas belong to the property, so replicas that each run the local
:class:`~storelink.connectors.ga4.pacing.Ga4QuotaLimiter` would together send up to ``replicas ×
9`` requests at once (the property allows 10) and spend ``replicas ×`` the server errors that lock
it for everyone. :class:`RedisGa4Gate` keeps what must be global in Redis, one Lua script per step
so each is atomic, on Redis' clock only (``TIME``) so skewed replicas agree:

* **leases** (a ZSET scored by expiry): every admitted attempt of every replica, with its category
  and estimated cost. Concurrency and the server-error rule (the failure of every attempt in flight
  must leave one error spare) count them; a replica that dies holding one stops counting when its
  score passes (the wait plus :data:`LEASE_TTL_S`).
* **waiters** (a ZSET scored by ticket, in order of arrival, and one of when each last asked): attempts that found the
  property full are admitted first come, first served across replicas, so none starves while
  later ones get in; a waiter that stops asking (it gave up, or its replica died) is forgotten
  after :data:`WAITER_STALE_S`.
* **server errors** (a ZSET of the times they were seen, over a rolling hour) and the last count
  the server reported, reconciled as the local limiter does: the lower figure wins.
* **token buckets** per category (``tokensPerDay``, ``…PerHour``, ``…PerProjectPerHour``): the
  lowest figure any replica's ``propertyQuota`` reported in the current window, less what every
  replica's leases of that category are expected to cost. A window rolls over on Redis' clock (the
  hour, or midnight Pacific, whose offset the caller passes).
* **holds** per category after ``RESOURCE_EXHAUSTED``, as an absolute Redis time.

:class:`SharedGa4Limiter` puts the gate in front of the local limiter: the local one still paces
this replica's burst rate and learns cost estimates; the gate admits across replicas. An attempt
the gate cannot admit yet (the property is at its concurrency) polls until a lease is released or
its deadline passes; one that would spend the last spare server error is refused at once. When
Redis fails, the local limiter alone decides, at 1/``replicas`` of the concurrency, error and
token budgets (:attr:`Ga4QuotaLimiter.share`), until Redis answers again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import random
import secrets
from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis

from storelink.connectors.ga4.errors import CONCURRENCY_WAIT_S, PACIFIC, TOKEN_BUCKETS, Ga4QuotaHint
from storelink.connectors.ga4.pacing import Ga4QuotaLimiter, category_of
from storelink.errors import ConnectorError, ErrorKind, Headroom
from storelink.resilience.classify import RateHint
from storelink.resilience.deadline import Deadline
from storelink.resilience.limiter import Reservation
from storelink.resilience.redis_health import REDIS_ERRORS, RedisHealth
from storelink.resilience.redis_limiter import hash_tag

if TYPE_CHECKING:
    from storelink.resilience.shared import SharedState

__all__ = ["LEASE_TTL_S", "Admission", "RedisGa4Gate", "SharedGa4Limiter"]

# How long a lease outlives its wait: longer than any attempt (deadlines default to 30 s), so only a
# replica that died or lost Redis leaves one behind.
LEASE_TTL_S = 60.0
# Between looks at a property that is at its concurrency: short against a report's ~100 ms or more.
POLL_S = 0.025
# A waiter that has not asked for this long has gone (polls come every POLL_S).
WAITER_STALE_S = 2.0

# KEYS[1] state hash, KEYS[2] leases ZSET, KEYS[3] server-error ZSET, KEYS[4] waiters by ticket,
# KEYS[5] waiters by when they last asked. Times are Redis ms.
_PRELUDE = """
local HOUR = 3600000
local STATE_TTL_MS = 172800000
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function window(bucket, offset_s)
  if bucket == 'tokensPerDay' then
    local id = math.floor((now / 1000 + offset_s) / 86400)
    return id, ((id + 1) * 86400 - offset_s) * 1000
  end
  local id = math.floor(now / HOUR)
  return id, (id + 1) * HOUR
end
local function touch()
  for i = 1, #KEYS do redis.call('PEXPIRE', KEYS[i], STATE_TTL_MS) end
end
local function unqueue(member)
  redis.call('ZREM', KEYS[4], member)
  redis.call('ZREM', KEYS[5], member)
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - HOUR)
"""

# ARGV: 1 category, 2 cost, 3 member (the same on every look of one attempt), 4 lease ttl ms, 5 Pacific
# offset s, 6 concurrency, 7 error quota, 8 waiter stale ms, 9.. bucket name and its assumed maximum,
# in pairs. Replies {status, wait ms}: 'ok' (leased; wait before sending), 'busy' (queued, no lease:
# look again), 'refuse' (no lease: the error budget is spent).
_ADMIT = (
    _PRELUDE
    + """
local category, cost, offset = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[5])
local concurrency, error_quota = tonumber(ARGV[6]), tonumber(ARGV[7])
local errors = redis.call('ZCARD', KEYS[3])
local left = math.max(error_quota, tonumber(redis.call('HGET', KEYS[1], 'err|quota') or 0)) - errors
local rep = redis.call('HMGET', KEYS[1], 'err|rep', 'err|at')
local reported_at = tonumber(rep[2])
if reported_at and now - reported_at < HOUR then
  local since = redis.call('ZCOUNT', KEYS[3], '(' .. reported_at, '+inf')
  left = math.min(left, tonumber(rep[1]) - since)
else
  reported_at = nil
end
if left <= 1 then
  local waits = {}
  local oldest = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
  if oldest[2] then table.insert(waits, tonumber(oldest[2]) + HOUR - now) end
  if reported_at then table.insert(waits, reported_at + HOUR - now) end
  local wait = 1000
  if #waits > 0 then wait = math.max(1000, math.min(unpack(waits))) end
  unqueue(ARGV[3])
  return {'refuse', wait}
end
local stale = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', now - tonumber(ARGV[8]))
for _, m in ipairs(stale) do unqueue(m) end
if not redis.call('ZSCORE', KEYS[4], ARGV[3]) then  -- a ticket, not the time: arrivals in one ms stay ordered
  redis.call('ZADD', KEYS[4], redis.call('HINCRBY', KEYS[1], 'ticket', 1), ARGV[3])
end
redis.call('ZADD', KEYS[5], now, ARGV[3])
local leases = redis.call('ZRANGE', KEYS[2], 0, -1)
local free = math.min(concurrency - #leases, left - 1 - #leases)
if redis.call('ZRANK', KEYS[4], ARGV[3]) >= free then
  touch()
  return {'busy', 0}
end
unqueue(ARGV[3])
local held = 0
for _, m in ipairs(leases) do
  local c, k = string.match(m, '|([^|]*)|([^|]*)$')
  if c == category then held = held + (tonumber(k) or 0) end
end
local wait = math.max(0, tonumber(redis.call('HGET', KEYS[1], category .. '|blocked') or 0) - now)
for i = 9, #ARGV, 2 do
  local bucket = ARGV[i]
  local f = category .. '|' .. bucket .. '|'
  local v = redis.call('HMGET', KEYS[1], f .. 'rem', f .. 'win', f .. 'max')
  local maximum = math.max(tonumber(ARGV[i + 1]), tonumber(v[3]) or 0)
  local id, ends = window(bucket, offset)
  local remaining = maximum
  if tonumber(v[2]) == id then remaining = tonumber(v[1]) end
  if remaining - held - cost < math.max(20, maximum * 0.01) then wait = math.max(wait, ends - now) end
end
redis.call('ZADD', KEYS[2], now + wait + tonumber(ARGV[4]), ARGV[3])
touch()
return {'ok', wait}
"""
)

# ARGV: 1 member. Gives an unsent lease back, or leaves the queue.
_RELEASE = """
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('ZREM', KEYS[5], ARGV[1])
return 1
"""

# ARGV: 1 member, 2 category, 3 Pacific offset s, 4 '1' after a 5xx, 5 blocked ms, 6 exhausted bucket
# or '', 7 error reading remaining or '', 8 error reading maximum or '', 9.. bucket name, consumed,
# remaining, in threes. A report is applied even when the lease has expired: the server's figures
# are authoritative regardless.
_SETTLE = (
    _PRELUDE
    + """
redis.call('ZREM', KEYS[2], ARGV[1])
local category, offset = ARGV[2], tonumber(ARGV[3])
if ARGV[4] == '1' then redis.call('ZADD', KEYS[3], now, ARGV[1]) end
for i = 9, #ARGV, 3 do
  local bucket, consumed, remaining = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  local f = category .. '|' .. bucket .. '|'
  local v = redis.call('HMGET', KEYS[1], f .. 'rem', f .. 'win', f .. 'max')
  local id = window(bucket, offset)
  -- Answers may arrive out of order: within a window the lowest figure is the latest.
  if tonumber(v[2]) == id then remaining = math.min(tonumber(v[1]), remaining) end
  redis.call('HSET', KEYS[1], f .. 'rem', remaining, f .. 'win', id,
             f .. 'max', math.max(tonumber(v[3]) or 0, consumed + remaining))
end
if ARGV[7] ~= '' then
  redis.call('HSET', KEYS[1], 'err|rep', ARGV[7], 'err|at', now)
  local quota = tonumber(redis.call('HGET', KEYS[1], 'err|quota') or 0)
  redis.call('HSET', KEYS[1], 'err|quota', math.max(quota, tonumber(ARGV[8])))
end
local blocked = tonumber(ARGV[5])
if blocked > 0 then
  local f = category .. '|blocked'
  redis.call('HSET', KEYS[1], f, math.max(tonumber(redis.call('HGET', KEYS[1], f) or 0), now + blocked))
end
if ARGV[6] ~= '' then
  local f = category .. '|' .. ARGV[6] .. '|'
  redis.call('HSET', KEYS[1], f .. 'rem', 0, f .. 'win', (window(ARGV[6], offset)))
end
touch()
return 1
"""
)


def _pacific_offset_s(wall: float) -> float:
    offset = dt.datetime.fromtimestamp(wall, PACIFIC).utcoffset()
    return offset.total_seconds() if offset is not None else -8 * 3600.0


class Admission:
    """What :meth:`RedisGa4Gate.admit` answers: a lease and its wait, or how long to keep away."""

    __slots__ = ("member", "status", "wait_s")

    def __init__(self, status: str, wait_s: float, member: str) -> None:
        self.status = status  # "ok", "busy" or "refuse"
        self.wait_s = wait_s
        self.member = member


class RedisGa4Gate:
    """The property-wide state in Redis. Redis errors propagate; the caller decides locally."""

    def __init__(
        self,
        client: Redis,
        *,
        key: str,
        quotas: dict[str, float],
        prefix: str = "storelink:",
        lease_ttl_s: float = LEASE_TTL_S,
        waiter_stale_s: float = WAITER_STALE_S,
    ) -> None:
        base = f"{prefix}ga4:{hash_tag(key)}"
        self.keys = [base, f"{base}:leases", f"{base}:errors", f"{base}:waiting", f"{base}:asked"]
        self.quotas = quotas
        self.lease_ttl_s = lease_ttl_s
        self.waiter_stale_s = waiter_stale_s
        self.instance = secrets.token_hex(6)  # members stay unique across replicas and restarts
        self._ids = itertools.count(1)
        self._admit = client.register_script(_ADMIT)
        self._release = client.register_script(_RELEASE)
        self._settle = client.register_script(_SETTLE)

    def member(self, category: str, cost: float) -> str:
        """A new attempt's name in Redis: unique across replicas; carries its category and cost."""
        return f"{self.instance}:{next(self._ids)}|{category}|{cost!r}"

    async def admit(self, member: str, *, wall: float) -> Admission:
        _, category, cost = member.split("|")
        maxima = [x for bucket in TOKEN_BUCKETS for x in (bucket, self.quotas[bucket])]
        reply = await self._admit(
            keys=self.keys,
            args=[
                category,
                cost,
                member,
                int(self.lease_ttl_s * 1000),
                _pacific_offset_s(wall),
                self.quotas["concurrentRequests"],
                self.quotas["serverErrorsPerProjectPerHour"],
                int(self.waiter_stale_s * 1000),
                *maxima,
            ],
        )
        status = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0])
        return Admission(status, float(reply[1]) / 1000.0, member)

    async def release(self, member: str) -> None:
        await self._release(keys=self.keys, args=[member])

    async def settle(self, member: str, category: str, hint: RateHint | None, *, wall: float) -> None:
        args: list[Any] = [member, category, _pacific_offset_s(wall), "0", 0, "", "", ""]
        if isinstance(hint, Ga4QuotaHint):
            errors = hint.buckets.get("serverErrorsPerProjectPerHour")
            args[3:8] = [
                "1" if hint.server_error else "0",
                int(hint.hold_s * 1000),
                hint.exhausted if hint.exhausted in TOKEN_BUCKETS else "",
                "" if errors is None else errors.remaining,
                "" if errors is None else errors.consumed + errors.remaining,
            ]
            for bucket in TOKEN_BUCKETS:
                if (reading := hint.buckets.get(bucket)) is not None:
                    args += [bucket, reading.consumed, reading.remaining]
        await self._settle(keys=self.keys, args=args)


class SharedGa4Limiter:
    """The local :class:`Ga4QuotaLimiter` with :class:`RedisGa4Gate` in front (see the module doc)."""

    def __init__(
        self, local: Ga4QuotaLimiter, gate: RedisGa4Gate, *, health: RedisHealth, replicas: int, poll_s: float = POLL_S
    ) -> None:
        self.local = local
        self.gate = gate
        self.health = health
        self.replicas = max(1, replicas)
        self.poll_s = poll_s
        self._leases: dict[int, tuple[str, str]] = {}  # reservation id -> (member, category)
        local.share = self._share

    @classmethod
    def over(cls, local: Ga4QuotaLimiter, state: SharedState, key: str) -> SharedGa4Limiter:
        gate = RedisGa4Gate(state.client, key=key, quotas=local.quotas, prefix=state.prefix)
        return cls(local, gate, health=state.health, replicas=state.replicas)

    def _share(self) -> float:
        return 1.0 / self.replicas if self.health.degraded else 1.0

    @property
    def degraded(self) -> bool:
        return self.health.degraded

    async def reserve(self, cost: float, *, operation: str = "", deadline: Deadline | None = None) -> Reservation:
        if not self.health.should_try():
            self.health.fell_back()
            return await self.local.reserve(cost, operation=operation, deadline=deadline)
        local = await self.local.reserve(cost, operation=operation, deadline=deadline)
        category = category_of(operation)
        try:
            admission = await self._admit(category, cost, deadline)
        except REDIS_ERRORS as exc:
            self.health.failed(exc)
            await self.local.cancel(local)
            return await self.local.reserve(cost, operation=operation, deadline=deadline)  # now at this replica's share
        except BaseException:
            await self.local.cancel(local)
            raise
        self.health.succeeded()
        self._leases[local.id] = (admission.member, category)
        return Reservation(cost=cost, wait_s=max(local.wait_s, admission.wait_s), id=local.id)

    async def _admit(self, category: str, cost: float, deadline: Deadline | None) -> Admission:
        clock = self.local.clock
        give_up = clock.now() + (deadline.remaining() if deadline is not None else self.local.default_deadline_s)
        member = self.gate.member(category, cost)
        try:
            while True:
                admission = await self.gate.admit(member, wall=self.local.wall())
                if admission.status == "ok":
                    return admission
                if admission.status == "refuse":
                    raise ConnectorError(
                        ErrorKind.RATE_LIMITED,
                        f"GA4 allows {self.local.quotas['serverErrorsPerProjectPerHour']:.0f} server errors per "
                        "property per hour and this hour's are nearly spent across the replicas; one more could "
                        f"lock the property for everyone, so storelink holds calls back for {admission.wait_s:.0f} s. "
                        "Nothing was sent.",
                        retry_after_s=admission.wait_s,
                        upstream_code="serverErrorsPerProjectPerHour",
                    )
                if clock.now() + self.poll_s > give_up:
                    await self._release(member)
                    raise ConnectorError(
                        ErrorKind.RATE_LIMITED,
                        "The GA4 property is at its limit of requests in flight across the replicas, and this call "
                        "waited its whole deadline for a turn. Nothing was sent; retry shortly.",
                        retry_after_s=CONCURRENCY_WAIT_S,
                        upstream_code="concurrentRequests",
                    )
                await clock.sleep(self.poll_s * (0.5 + random.random()))
        except asyncio.CancelledError:  # mid-sleep or mid-call to Redis: leave the queue (or the lease) at once
            await asyncio.shield(self._release(member))
            raise

    async def _release(self, member: str) -> None:
        """Give a lease, or a waiting attempt's place in the queue, back at once (either would
        lapse by itself: a lease after its TTL, a waiter after WAITER_STALE_S)."""
        try:
            await self.gate.release(member)
        except REDIS_ERRORS as exc:
            self.health.failed(exc)

    async def cancel(self, reservation: Reservation) -> None:
        await self.local.cancel(reservation)
        lease = self._leases.pop(reservation.id, None)
        if lease is not None and not self.health.degraded:  # degraded: the lease expires in Redis
            await self._release(lease[0])

    async def settle(self, reservation: Reservation, hint: RateHint | None) -> None:
        await self.local.settle(reservation, hint)
        lease = self._leases.pop(reservation.id, None)
        if lease is None or self.health.degraded:
            return
        try:
            await self.gate.settle(lease[0], lease[1], hint, wall=self.local.wall())
        except REDIS_ERRORS as exc:
            self.health.failed(exc)

    def headroom(self) -> Headroom | None:
        return self.local.headroom()  # every report is the property's own figure, whichever replica got it
