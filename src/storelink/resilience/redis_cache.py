"""The response cache in Redis, shared by every replica, with the embedded cache as its fallback.

:class:`RedisResponseCache` *is a* :class:`~storelink.resilience.cache.ResponseCache`: the same
interface the pipeline already calls (``get``, ``put``, ``refresh``, ``flush``, ``expire``,
``now``), the same keys (``cache_key`` already holds the credential partition, so tenants never
share an entry), the same write buffering (one pipelined round trip per flush, not one per
response). What it inherits is the embedded SQLite cache, which answers whenever Redis cannot:
a read that fails goes to the local table, a flush that fails lands there, and while
:class:`~storelink.resilience.redis_health.RedisHealth` says degraded, Redis is not tried at all
(except by the one caller that probes). A cache miss is the worst Redis can cause.

The interface is synchronous, as the pipeline calls it, so the client is redis-py's blocking one
with short socket timeouts (``STORELINK``'s Redis is expected on the local network: a GET is tens
of microseconds, like the SQLite read it replaces). A Redis that hangs costs the one call that
finds out, then the tracker keeps everyone off it until a probe succeeds.

Layout (plain keys: each command names its own, so nothing here needs one Cluster slot): entry
``{prefix}cache:e:{key}`` is a hash (connector, status, headers, body, stored_at,
expires_at, etag, last_modified) with a Redis TTL of its freshness plus, when it has validators,
a day in which a stale entry can still be revalidated with a 304. ``{prefix}cache:i:{connector}``
is a set of that connector's entry keys, for :meth:`expire`. Freshness is judged on each
replica's wall clock, as the embedded cache does; skewed clocks shift it by their skew only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx2
from redis import Redis

from storelink.resilience.cache import CachedResponse, ResponseCache, _decode_headers, _Pending
from storelink.resilience.redis_health import REDIS_ERRORS, RedisHealth
from storelink.store import EmbeddedStore

__all__ = ["KEEP_STALE_S", "RedisResponseCache"]

KEEP_STALE_S = 86_400.0  # how long an expired entry with validators stays for revalidation
_GRACE_S = 60.0  # an entry without validators outlives its freshness by this little

# KEYS[1] entry; ARGV stored_at, expires_at, new TTL in ms. Only an entry that still exists is
# touched: HSET on a vanished key would leave a half entry behind.
_REFRESH = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'st', ARGV[1], 'ex', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""

# KEYS[1] an entry: mark it stale (expired entries with validators are revalidated, not refetched).
# 0 when it has gone, so the caller prunes it from its connector's index.
_MARK_STALE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'ex', '0')
return 1
"""

_FIELDS = ("c", "s", "h", "b", "st", "ex", "et", "lm")


class RedisResponseCache(ResponseCache):
    def __init__(
        self,
        store: EmbeddedStore,
        client: Redis,
        *,
        health: RedisHealth,
        prefix: str = "storelink:",
        wall_clock: Callable[[], float] = time.time,
        flush_after_s: float = 0.25,
        flush_at: int = 256,
        keep_stale_s: float = KEEP_STALE_S,
    ) -> None:
        super().__init__(store, wall_clock=wall_clock, flush_after_s=flush_after_s, flush_at=flush_at)
        self._redis = client
        self._health = health
        self._entry_prefix = f"{prefix}cache:e:"
        self._index_prefix = f"{prefix}cache:i:"
        self._keep_stale_s = keep_stale_s
        self._shared: dict[str, _Pending] = {}  # waiting for the next flush to Redis
        self._refresh_script = client.register_script(_REFRESH)
        self._stale_script = client.register_script(_MARK_STALE)

    # -- reads ---------------------------------------------------------------------------------
    def get(self, key: str) -> CachedResponse | None:
        pending = self._shared.get(key)
        if pending is not None:
            return _from_row(pending.row(key))
        if not self._health.should_try():
            self._health.fell_back()
            return super().get(key)
        try:
            values = self._redis.hmget(self._entry_prefix + key, list(_FIELDS))
        except REDIS_ERRORS as exc:
            self._health.failed(exc)
            return super().get(key)
        self._health.succeeded()
        return _from_hash(values)

    # -- writes --------------------------------------------------------------------------------
    def put(self, key: str, *, connector: str, response: httpx2.Response, ttl_s: float, store: str = "") -> None:
        if self._health.degraded:
            super().put(key, connector=connector, response=response, ttl_s=ttl_s, store=store)
            return
        now = self.now()
        self._shared[key] = _Pending(
            connector, response.status_code, list(response.headers.raw), response.content, now, now + ttl_s, store
        )
        if len(self._shared) >= self._flush_at:
            self.flush()
        elif self._timer is None:
            self._schedule_flush()

    def refresh(self, key: str, ttl_s: float) -> None:
        pending = self._shared.get(key)
        now = self.now()
        if pending is not None:
            pending.stored_at, pending.expires_at = now, now + ttl_s
            return
        if self._health.degraded:
            super().refresh(key, ttl_s)
            return
        keep = ttl_s + self._keep_stale_s
        try:
            self._refresh_script(keys=[self._entry_prefix + key], args=[now, now + ttl_s, int(keep * 1000)])
        except REDIS_ERRORS as exc:
            self._health.failed(exc)
            super().refresh(key, ttl_s)

    def flush(self) -> None:
        """Write buffered entries: the shared ones in one pipelined round trip, the rest locally."""
        if self._shared:
            rows = [pending.row(key) for key, pending in self._shared.items()]
            batch, self._shared = self._shared, {}
            try:
                self._write(rows)
            except REDIS_ERRORS as exc:
                self._health.failed(exc)
                self._pending.update(batch)  # a cache entry is worth keeping locally
        super().flush()

    def _write(self, rows: list[tuple[Any, ...]]) -> None:
        pipe = self._redis.pipeline(transaction=False)
        for key, connector, status, headers, body, stored_at, expires_at, etag, last_modified, store in rows:
            entry = self._entry_prefix + key
            keep = _GRACE_S if not (etag or last_modified) else self._keep_stale_s
            ttl_ms = max(1, int((expires_at - stored_at + keep) * 1000))
            pipe.hset(
                entry,
                mapping={
                    "c": connector,
                    "s": status,
                    "h": headers,
                    "b": body,
                    "st": repr(stored_at),
                    "ex": repr(expires_at),
                    "et": etag or "",
                    "lm": last_modified or "",
                },
            )
            pipe.pexpire(entry, ttl_ms)
            pipe.sadd(self._index_prefix + connector, key)
            if store:  # one store's entries of a connector, for expire(connector, store=...) and forget
                pipe.sadd(f"{self._index_prefix}{connector}@{store}", key)
        pipe.execute()

    def expire(self, connector: str | None = None, *, store: str | None = None) -> None:
        """Mark entries stale, in Redis and in the local fallback table. (An admin action: one
        pipelined round trip per connector, each entry touched by its own key, so that it works
        with keys spread over Cluster slots.)"""
        self.flush()
        super().expire(connector, store=store)
        try:
            if connector is not None:
                indexes = [self._index_prefix + connector + (f"@{store}" if store is not None else "")]
            else:
                indexes = [_text(i) for i in self._redis.scan_iter(match=f"{self._index_prefix}*", count=500)]
            for index in indexes:
                self._mark_stale(index)
        except REDIS_ERRORS as exc:
            self._health.failed(exc)

    def forget(self, store: str, *, containing: Sequence[str] = ()) -> int:
        """Delete one store's entries (those holding any of ``containing``, or all), in Redis and in
        the local fallback table."""
        gone = super().forget(store, containing=containing)
        try:
            pattern = f"{self._index_prefix}*@{store}"
            for index in [_text(i) for i in self._redis.scan_iter(match=pattern, count=500)]:
                keys = [_text(k) for k in self._redis.smembers(index)]
                entries = [self._entry_prefix + key for key in keys]
                bodies: list[Any] = [self._redis.hget(e, "b") for e in entries] if containing else [b""] * len(keys)
                doomed = [
                    (key, entry)
                    for key, entry, body in zip(keys, entries, bodies, strict=True)
                    if not containing or any(needle.encode() in (body or b"") for needle in containing)
                ]
                if doomed:
                    self._redis.delete(*(entry for _, entry in doomed))
                    self._redis.srem(index, *(key for key, _ in doomed))
                    gone += len(doomed)
        except REDIS_ERRORS as exc:
            self._health.failed(exc)
            raise
        return gone

    def _mark_stale(self, index: str) -> None:
        keys = [_text(k) for k in self._redis.smembers(index)]
        if not keys:
            return
        pipe = self._redis.pipeline(transaction=False)
        for key in keys:
            self._stale_script(keys=[self._entry_prefix + key], client=pipe)
        gone = [key for key, found in zip(keys, pipe.execute(), strict=True) if not found]
        if gone:
            self._redis.srem(index, *gone)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _from_hash(values: list[Any]) -> CachedResponse | None:
    _, status, headers, body, stored_at, expires_at, etag, last_modified = values
    if status is None or body is None or expires_at is None:
        return None
    return CachedResponse(
        status=int(status),
        headers=_decode_headers(_text(headers or b"")),
        body=bytes(body),
        stored_at=float(stored_at),
        expires_at=float(expires_at),
        etag=_text(etag) or None,
        last_modified=_text(last_modified) or None,
    )


def _from_row(row: tuple[Any, ...]) -> CachedResponse:
    status, headers, body, stored_at, expires_at, etag, last_modified = row[2:9]
    return CachedResponse(
        status=status,
        headers=_decode_headers(headers),
        body=body,
        stored_at=stored_at,
        expires_at=expires_at,
        etag=etag,
        last_modified=last_modified,
    )
