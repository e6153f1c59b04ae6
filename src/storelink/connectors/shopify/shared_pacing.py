"""A shop's cost bucket paced by every replica at once, kept in Redis (issue 16, item 5).

:class:`~storelink.connectors.shopify.pacing.ShopifyCostLimiter` is what one replica needs; behind a
load balancer each replica would learn the shop's bucket on its own and burst into it at a cold
start, order only its own callers, and re-sync from a report without knowing what the other
replicas sent meanwhile. :class:`RedisCostBucket` is the same model moved into Redis, on the
shared token bucket's machinery (:mod:`storelink.resilience.redis_limiter`: one Lua script per
step, Redis' clock, outstanding reservations in a ZSET scored by expiry) with three additions:

* **The probe is a lease in Redis.** Until some replica's answer has carried ``throttleStatus``
  (``rep`` = 1), one reservation of the whole deployment is out; a reserve that finds it out is told
  to hold for what is left of its lease. Each replica keeps its own callers in line (a FIFO lock)
  and only the first asks Redis again, every :data:`POLL_S` or as soon as a settle of its own lands.
  Across replicas, held callers are granted in the order they ask again (within ``POLL_S``), not
  strictly in the order they came: the hold lasts one answer, and a ticket queue in Redis (as
  GA4's gate keeps) would buy at most those milliseconds.
  A probe closed without a report lets the next caller probe; one never closed is replaced after
  ``probe_lease_s``.
* **Arrival order across replicas.** ``sa`` is the send time of the latest grant; no grant's wait
  ends before it, so requests leave in the order Redis granted them whatever their cost.
* **Re-sync that counts what the report missed.** Every close is kept (a ZSET scored by when it
  closed) until no outstanding reservation is older; a report is charged for each close since its
  own request was sent that may have run after it, as the local limiter's ``_maybe_after`` does.

Why not the plain shared bucket: it trusts the knobs' plan until the first report and orders
nothing, and ``bench/stores.py --replicas 3`` measured the cost: a THROTTLED at every cold start.
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import Redis

from storelink.clock import Clock, sleep_or_until
from storelink.errors import ConnectorError, ErrorKind
from storelink.resilience.classify import RateHint
from storelink.resilience.deadline import Deadline
from storelink.resilience.limiter import Reservation
from storelink.resilience.redis_limiter import PRELUDE, RESERVATION_TTL_S, RedisBucketLimiter, SharedReservation

__all__ = ["POLL_S", "RedisCostBucket", "never_admitted"]

# Between looks at a probe another replica holds: short against a Shopify answer (~100 ms or more).
POLL_S = 0.025

# The cost model's own fields (send-after, the probe and when it was granted) beside the bucket's,
# and KEYS[3]: the closes a report may not have counted. MARGIN as in pacing.MARGIN_S.
_COST_PRELUDE = (
    PRELUDE
    + """
local MARGIN = 0.001
local x = redis.call('HMGET', KEYS[1], 'sa', 'probe', 'ps')
s.sa = tonumber(x[1]) or -1
s.probe = x[2] or ''
s.ps = tonumber(x[3]) or 0
local function save_cost(s)
  save(s)
  redis.call('HSET', KEYS[1], 'sa', num(s.sa), 'probe', s.probe, 'ps', num(s.ps))
  redis.call('PEXPIRE', KEYS[3], STATE_TTL_MS)
end
local function last_send(ttl)
  local top = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
  if #top == 0 then return now end
  return tonumber(top[2]) - ttl
end
"""
)

# ARGV[3] cost, ARGV[4] member, ARGV[5] reservation TTL after its wait, ARGV[6] the probe's lease.
_RESERVE = (
    _COST_PRELUDE
    + """
local cost, member, ttl, lease = tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])
if s.rep == 1 and cost > s.cap then
  save_cost(s)
  return reply('too_big', 0, now, s)
end
if s.rep == 0 then
  if s.probe ~= '' and redis.call('ZSCORE', KEYS[2], s.probe) and now - s.ps < lease then
    save_cost(s)
    return reply('hold', s.ps + lease - now, now, s)
  end
  s.probe = member
  s.ps = now
end
s.tk = s.tk - cost
local send = now
if s.tk < 0 then send = now - s.tk / s.rate + MARGIN end
if send < s.sa then send = s.sa end
s.sa = send
if redis.call('ZADD', KEYS[2], num(send + ttl), member) == 1 then s.owed = s.owed + cost end
save_cost(s)
return reply('ok', send - now, now, s)
"""
)

# ARGV[3] cost, ARGV[4] member, ARGV[5] reservation TTL.
_CANCEL = (
    _COST_PRELUDE
    + """
local cost, member, ttl = tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
if redis.call('ZREM', KEYS[2], member) == 1 then
  s.owed = s.owed - cost
  s.tk = math.min(s.cap, s.tk + cost)
  s.sa = math.min(s.sa, last_send(ttl))
end
if s.probe == member then s.probe = '' end
save_cost(s)
return reply('ok', 0, now, s)
"""
)

# ARGV[3] cost, ARGV[4] member, ARGV[5] when it was to be sent (Redis time), ARGV[6] '1' with a
# hint, ARGV[7..9] available, maximum, restore per second, ARGV[10] actual cost ('' when not
# reported), ARGV[11] reservation TTL. Closes are kept as 'closed|charge|available|member'.
_SETTLE = (
    _COST_PRELUDE
    + """
local cost, member, sent, ttl = tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[11])
local known = redis.call('ZREM', KEYS[2], member) == 1
if known then s.owed = s.owed - cost end
if s.probe == member then s.probe = '' end
local available, maximum, restore = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local actual = tonumber(ARGV[10])
local reported = ARGV[6] == '1' and maximum > 0 and restore > 0
if reported then
  if s.owed < 0 or redis.call('ZCARD', KEYS[2]) == 0 then s.owed = 0 end
  s.cap = maximum
  s.rate = restore
  -- Closes since this request was sent that Shopify may have run after it. Not one whose own report
  -- is higher by more than the bucket could refill in between: that one ran first.
  local missed = 0
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], num(sent), '+inf')) do
    local at, charge, seen = string.match(m, '^([^|]*)|([^|]*)|([^|]*)|')
    if seen == '' or tonumber(seen) <= available + 1 + restore * (tonumber(at) - sent) then
      missed = missed + tonumber(charge)
    end
  end
  s.tk = math.min(s.cap, available) - s.owed - missed
  s.rep = 1
elseif ARGV[6] == '1' and actual and known then
  s.tk = math.min(s.cap, s.tk + math.max(0, cost - actual))
end
local charge = actual or cost
local seen = ''
if reported then seen = num(available) end
redis.call('ZADD', KEYS[3], num(now), num(now) .. '|' .. num(charge) .. '|' .. seen .. '|' .. member)
-- Only closes that a report still out could have missed are kept.
local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
local oldest = now
if #first > 0 then oldest = math.min(now, tonumber(first[2]) - ttl) end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. num(oldest))
save_cost(s)
return reply('ok', 0, now, s)
"""
)


class RedisCostBucket(RedisBucketLimiter):
    """The shop's cost bucket in Redis, with the probe, the order and the re-sync of
    :class:`~storelink.connectors.shopify.pacing.ShopifyCostLimiter` kept for every replica."""

    scripts = (_RESERVE, _CANCEL, _SETTLE)

    def __init__(
        self,
        client: Redis,
        *,
        bucket: str,
        rate: float,
        capacity: float,
        clock: Clock,
        prefix: str = "storelink:",
        reservation_ttl_s: float = RESERVATION_TTL_S,
        probe_lease_s: float = 30.0,
        poll_s: float = POLL_S,
    ) -> None:
        super().__init__(
            client,
            bucket=bucket,
            rate=rate,
            capacity=capacity,
            prefix=prefix,
            unit="points",
            reservation_ttl_s=reservation_ttl_s,
            clock=clock,
        )
        self.keys = (*self.keys, f"{self.keys[0]}:closed")
        self.probe_lease_s = probe_lease_s
        self.poll_s = poll_s
        self._line = asyncio.Lock()  # FIFO: this replica's callers keep their order while on hold
        self._settled = asyncio.Event()  # a close of ours landed: the probe may be back
        self._learned = False

    async def reserve(self, cost: float, *, operation: str = "", deadline: Deadline | None = None) -> SharedReservation:
        if self._learned:
            granted, _ = await self._ask(cost)
            if granted is not None:
                return granted
        # The shop's bucket is unknown: one caller of this replica asks Redis at a time, in order.
        # (A caller cancelled while its script runs leaves a grant that expires with its TTL, and a
        # probe that is replaced when its lease ends.)
        async with self._line:
            while True:
                granted, hold_s = await self._ask(cost)
                if granted is not None:
                    return granted
                await self._hold(hold_s, deadline)

    async def _ask(self, cost: float) -> tuple[SharedReservation | None, float]:
        rid = next(self._ids)
        member = f"{self.instance}:{rid}:{cost!r}"
        args: list[Any] = [*self._defaults(), cost, member, self.reservation_ttl_s, self.probe_lease_s]
        status, wait, now = self._observe(await self._reserve(keys=list(self.keys), args=args))
        self._learned = self.snapshot is not None and self.snapshot.reported
        if status == "too_big":
            raise never_admitted(cost, self.snapshot.capacity if self.snapshot else self.capacity)
        if status == "hold":
            return None, wait
        return SharedReservation(cost=cost, wait_s=wait, id=rid, member=member, server_time=now), 0.0

    async def _hold(self, lease_left_s: float, deadline: Deadline | None) -> None:
        at_most = min(self.poll_s, lease_left_s)
        if deadline is not None:
            remaining = deadline.remaining()
            if remaining <= 0:
                raise ConnectorError(
                    ErrorKind.RATE_LIMITED,
                    "Shopify has not reported this shop's cost bucket yet and the first request (maybe "
                    "another replica's) is still out; this call's deadline passed while it waited, and "
                    "nothing was sent. Retry.",
                )
            at_most = min(at_most, remaining)
        self._settled.clear()
        await sleep_or_until(self._clock, at_most, self._settled)

    async def cancel(self, reservation: Reservation) -> None:
        member = _member_of(reservation)
        args: list[Any] = [*self._defaults(), reservation.cost, member, self.reservation_ttl_s]
        self._observe(await self._cancel(keys=list(self.keys), args=args))
        self._settled.set()

    async def settle(self, reservation: Reservation, hint: RateHint | None) -> None:
        if not isinstance(reservation, SharedReservation):
            raise TypeError("this reservation was not made by a RedisCostBucket")
        args: list[Any] = [*self._defaults(), reservation.cost, reservation.member, reservation.admit_at]
        if hint is None:
            args += ["0", 0, 0, 0, ""]
        else:
            actual = "" if hint.actual_cost is None else hint.actual_cost
            args += ["1", hint.available, hint.maximum, hint.restore_per_s, actual]
        args.append(self.reservation_ttl_s)
        self._observe(await self._settle(keys=list(self.keys), args=args))
        self._learned = self.snapshot is not None and self.snapshot.reported
        self._settled.set()


def never_admitted(cost: float, capacity: float) -> ConnectorError:
    return ConnectorError(
        ErrorKind.INVALID_REQUEST,
        f"This request costs {cost:g} points, more than the shop's whole bucket of {capacity:g}; "
        "it can never be admitted. Ask for less per request.",
        retryable=False,
    )


def _member_of(reservation: Reservation) -> str:
    if isinstance(reservation, SharedReservation):
        return reservation.member
    raise TypeError("this reservation was not made by a RedisCostBucket")
