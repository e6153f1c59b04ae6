"""The token bucket shared by every replica, kept in Redis (issue 10; resilience.md §4).

Upstream quotas are global (Shopify's bucket is per app and store), so replicas must debit one
budget. This is the local :class:`~storelink.resilience.limiter.TokenBucketLimiter` moved into
Redis, with the same reservation semantics: ``reserve`` debits at once (tokens may go negative;
the debt is the wait), ``cancel`` gives an unsent reservation back, ``settle`` closes it with the
upstream's report, which overwrites the model with the server's figures minus what other
outstanding reservations (of *every* replica) still owe.

Why these choices:

* **One Lua script per operation**, so each read-modify-write is atomic on the Redis main thread.
  Scripts go through ``register_script`` (EVALSHA, reloaded after ``NOSCRIPT``, e.g. when a
  restarted Redis has lost its script cache).
* **Redis' clock only.** Every script reads ``redis.call("TIME")`` and no client sends a
  timestamp, so replicas whose clocks are skewed still agree (the ``limits`` moving window passes
  the client's ``time.time()`` and does not; resilience.md §2, §4.3). Times are seconds since
  2017-01-01, as in go-redis ``redis_rate``, so microseconds fit a double. A clock that steps
  back grants no credit (refill only when ``now`` passes the last update). The client's own
  clock is used for one thing only: extrapolating :meth:`headroom` for display between calls.
* **Outstanding reservations are a ZSET scored by expiry** (the time the reservation may send,
  plus ``reservation_ttl_s`` for the request itself), member ``instance:id:cost``. A replica that
  crashes between reserve and settle, or whose settle is lost with Redis, leaves an entry that
  stops being owed once its score passes, instead of shrinking the budget for ever. The hash
  keeps the running sum (``owed``) so a script never walks the whole set.
* **Hash-tagged keys** (``…rl:{bucket}`` and ``…rl:{bucket}:res``) put both keys of a bucket in one
  Cluster slot, as a multi-key script requires.

State (hash fields): ``tk`` tokens, ``at`` last refill (Redis time), ``cap``, ``rate``, ``owed``
(cost of live reservations), ``rep`` (1 once the upstream has reported). Keys idle for a day
expire; a bucket idle that long is full anyway.
"""

from __future__ import annotations

import itertools
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from storelink.clock import Clock, LoopClock
from storelink.errors import ConnectorError, ErrorKind, Headroom
from storelink.resilience.classify import RateHint
from storelink.resilience.deadline import Deadline
from storelink.resilience.limiter import Reservation

__all__ = [
    "EPOCH",
    "PRELUDE",
    "RESERVATION_TTL_S",
    "BucketSnapshot",
    "RedisBucketLimiter",
    "SharedReservation",
    "bucket_keys",
    "hash_tag",
]

# How long a reservation may stay outstanding after its wait: longer than any attempt (the
# default deadline is 30 s), so only a replica that died or lost Redis leaves one behind.
RESERVATION_TTL_S = 60.0

# Redis time is kept as seconds since 2017-01-01 (go-redis redis_rate's epoch), so that seconds
# and microseconds fit a double with room to spare.
EPOCH = 1483228800

# Everything before the per-operation body: the clock, loading (with refill and expiry of dead
# reservations) and saving. ARGV[1], ARGV[2]: the capacity and rate assumed before any report.
PRELUDE = """
local EPOCH = @EPOCH@
local STATE_TTL_MS = 86400000
local function clock()
  local t = redis.call('TIME')
  return (tonumber(t[1]) - EPOCH) + tonumber(t[2]) / 1000000
end
local function num(x) return string.format('%.17g', x) end
local function member_cost(m) return tonumber(string.match(m, ':([^:]+)$')) or 0 end
local function load(now)
  local v = redis.call('HMGET', KEYS[1], 'tk', 'at', 'cap', 'rate', 'owed', 'rep')
  local s
  if v[1] then
    s = {tk = tonumber(v[1]), at = tonumber(v[2]), cap = tonumber(v[3]), rate = tonumber(v[4]),
         owed = tonumber(v[5]) or 0, rep = tonumber(v[6]) or 0}
  else
    s = {tk = tonumber(ARGV[1]), at = now, cap = tonumber(ARGV[1]), rate = tonumber(ARGV[2]), owed = 0, rep = 0}
  end
  if now > s.at then
    s.tk = math.min(s.cap, s.tk + (now - s.at) * s.rate)
    s.at = now
  end
  local dead = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', num(now))
  if #dead > 0 then
    for _, m in ipairs(dead) do s.owed = s.owed - member_cost(m) end
    redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', num(now))
  end
  return s
end
local function save(s)
  if s.owed < 0 or redis.call('ZCARD', KEYS[2]) == 0 then s.owed = 0 end
  redis.call('HSET', KEYS[1], 'tk', num(s.tk), 'at', num(s.at), 'cap', num(s.cap), 'rate', num(s.rate),
             'owed', num(s.owed), 'rep', s.rep)
  redis.call('PEXPIRE', KEYS[1], STATE_TTL_MS)
  redis.call('PEXPIRE', KEYS[2], STATE_TTL_MS)
end
local function reply(status, wait, now, s)
  return {status, num(wait), num(now), num(s.tk), num(s.cap), num(s.rate), num(s.owed), tostring(s.rep)}
end
local now = clock()
local s = load(now)
""".replace("@EPOCH@", str(EPOCH))

# ARGV[3] cost, ARGV[4] member, ARGV[5] seconds the reservation may stay outstanding after its wait.
_RESERVE = (
    PRELUDE
    + """
local cost = tonumber(ARGV[3])
if cost > s.cap then
  save(s)
  return reply('too_big', 0, now, s)
end
s.tk = s.tk - cost
local wait = 0
if s.tk < 0 then wait = -s.tk / s.rate end
if redis.call('ZADD', KEYS[2], num(now + wait + tonumber(ARGV[5])), ARGV[4]) == 1 then
  s.owed = s.owed + cost
end
save(s)
return reply('ok', wait, now, s)
"""
)

# ARGV[3] cost, ARGV[4] member.
_CANCEL = (
    PRELUDE
    + """
local cost = tonumber(ARGV[3])
if redis.call('ZREM', KEYS[2], ARGV[4]) == 1 then
  s.owed = s.owed - cost
  s.tk = math.min(s.cap, s.tk + cost)
end
save(s)
return reply('ok', 0, now, s)
"""
)

# ARGV[3] cost, ARGV[4] member, ARGV[5] '1' with a hint, ARGV[6..8] available, maximum, restore
# per second, ARGV[9] the actual cost ('' when not reported). A hint is applied even when the
# reservation is no longer known (it expired): the server's figures are authoritative regardless.
_SETTLE = (
    PRELUDE
    + """
local cost = tonumber(ARGV[3])
local known = redis.call('ZREM', KEYS[2], ARGV[4]) == 1
if known then s.owed = s.owed - cost end
if ARGV[5] == '1' then
  if known and ARGV[9] ~= '' and tonumber(ARGV[9]) < cost then
    s.tk = math.min(s.cap, s.tk + cost - tonumber(ARGV[9]))
  end
  local maximum, restore = tonumber(ARGV[7]), tonumber(ARGV[8])
  if maximum > 0 and restore > 0 then
    if s.owed < 0 or redis.call('ZCARD', KEYS[2]) == 0 then s.owed = 0 end
    s.cap = maximum
    s.rate = restore
    s.tk = math.min(s.cap, tonumber(ARGV[6])) - s.owed
    s.rep = 1
  end
end
save(s)
return reply('ok', 0, now, s)
"""
)

_UNSAFE = re.compile(r"[{}\s]")


def hash_tag(key: str) -> str:
    """``key`` as a Redis Cluster hash tag (``{…}``): keys that share it share a slot, as a multi-key
    script requires. ``key`` names an upstream budget (connector and credential partition, never a
    secret); braces and spaces in it would end or split the tag."""
    return "{" + _UNSAFE.sub("_", key) + "}"


def bucket_keys(prefix: str, bucket: str) -> tuple[str, str]:
    """The state hash and the reservation ZSET of ``bucket``, sharing one Cluster hash tag."""
    tag = hash_tag(bucket)
    return f"{prefix}rl:{tag}", f"{prefix}rl:{tag}:res"


@dataclass(slots=True)
class SharedReservation(Reservation):
    """A reservation held in Redis: its ZSET member, and Redis' time when it was made."""

    member: str = ""
    server_time: float = 0.0  # seconds since 2017-01-01 on the Redis clock

    @property
    def admit_at(self) -> float:
        """When this reservation may send, on the Redis clock."""
        return self.server_time + self.wait_s


@dataclass(frozen=True, slots=True)
class BucketSnapshot:
    """The bucket as the last script saw it (Redis time), and when we heard (local clock)."""

    tokens: float
    capacity: float
    rate: float
    owed: float
    reported: bool
    server_time: float
    local_time: float


def _floats(reply: Sequence[Any]) -> list[float]:
    return [float(x) for x in reply[1:7]]


class RedisBucketLimiter:
    """A :class:`~storelink.resilience.limiter.RateLimiter` whose bucket lives in Redis.

    ``rate``/``capacity`` are what the bucket assumes until the upstream reports its own (they
    seed a missing bucket; a bucket another replica created keeps its state). Any Redis error
    propagates: :class:`~storelink.resilience.shared.FallbackLimiter` turns it into a local
    decision, so this class stays a faithful model of the shared bucket.
    """

    # Reserve, cancel and settle; a bucket with a quota model of its own (Shopify's) brings its own.
    scripts: tuple[str, str, str] = (_RESERVE, _CANCEL, _SETTLE)

    def __init__(
        self,
        client: Redis,
        *,
        bucket: str,
        rate: float,
        capacity: float,
        prefix: str = "storelink:",
        unit: str = "requests",
        reservation_ttl_s: float = RESERVATION_TTL_S,
        clock: Clock | None = None,
    ) -> None:
        if rate <= 0 or capacity <= 0:
            raise ValueError("rate and capacity must be positive")
        self.bucket = bucket
        self.keys: tuple[str, ...] = bucket_keys(prefix, bucket)
        self.rate = rate
        self.capacity = capacity
        self.unit = unit
        self.reservation_ttl_s = reservation_ttl_s
        self._clock = clock or LoopClock()
        # Members must be unique across replicas and restarts: a random instance id per limiter.
        self.instance = secrets.token_hex(6)
        self._ids = itertools.count(1)
        self._reserve = client.register_script(self.scripts[0])
        self._cancel = client.register_script(self.scripts[1])
        self._settle = client.register_script(self.scripts[2])
        self.snapshot: BucketSnapshot | None = None

    def _defaults(self) -> list[float]:
        return [self.capacity, self.rate]

    def _observe(self, reply: Sequence[Any]) -> tuple[str, float, float]:
        status = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0])
        wait, now, tokens, capacity, rate, owed = _floats(reply)
        self.snapshot = BucketSnapshot(
            tokens=tokens,
            capacity=capacity,
            rate=rate,
            owed=owed,
            reported=str(reply[7].decode() if isinstance(reply[7], bytes) else reply[7]) == "1",
            server_time=now,
            local_time=self._clock.now(),
        )
        return status, wait, now

    async def reserve(self, cost: float, *, operation: str = "", deadline: Deadline | None = None) -> SharedReservation:
        rid = next(self._ids)
        member = f"{self.instance}:{rid}:{cost!r}"
        reply = await self._reserve(
            keys=list(self.keys), args=[*self._defaults(), cost, member, self.reservation_ttl_s]
        )
        status, wait, now = self._observe(reply)
        if status == "too_big":
            capacity = self.snapshot.capacity if self.snapshot else self.capacity
            raise ConnectorError(
                ErrorKind.INVALID_REQUEST,
                f"This request costs {cost:g} {self.unit}, more than the whole budget of "
                f"{capacity:g}; it can never be admitted. Ask for less per request.",
                retryable=False,
            )
        return SharedReservation(cost=cost, wait_s=wait, id=rid, member=member, server_time=now)

    async def cancel(self, reservation: Reservation) -> None:
        member = _member_of(reservation)
        reply = await self._cancel(keys=list(self.keys), args=[*self._defaults(), reservation.cost, member])
        self._observe(reply)

    async def settle(self, reservation: Reservation, hint: RateHint | None) -> None:
        member = _member_of(reservation)
        if hint is None:
            args: list[Any] = [*self._defaults(), reservation.cost, member, "0", 0, 0, 0, ""]
        else:
            actual = "" if hint.actual_cost is None else hint.actual_cost
            args = [
                *self._defaults(),
                reservation.cost,
                member,
                "1",
                hint.available,
                hint.maximum,
                hint.restore_per_s,
                actual,
            ]
        reply = await self._settle(keys=list(self.keys), args=args)
        self._observe(reply)

    def headroom(self) -> Headroom | None:
        snap = self.snapshot
        if snap is None:
            return None
        elapsed = max(0.0, self._clock.now() - snap.local_time)
        available = min(snap.capacity, snap.tokens + elapsed * snap.rate)
        return Headroom(
            available=max(0.0, round(available, 3)), maximum=snap.capacity, unit=self.unit, restore_per_s=snap.rate
        )


def _member_of(reservation: Reservation) -> str:
    if isinstance(reservation, SharedReservation):
        return reservation.member
    raise TypeError("this reservation was not made by a RedisBucketLimiter")
