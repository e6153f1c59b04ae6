"""The response cache: per-operation TTLs, conditional revalidation, per-credential partitions.

Why not hishel: its key is the URL (or a body hash) and only ``Vary`` splits entries, so two
credentials that reach the same URL through a custom header (``X-Shopify-Access-Token``) would
share an entry; and our freshness is decided per operation (a report over closed dates lives
long, "today" briefly), not by the upstream's Cache-Control, which these APIs barely send. What
is left is small: a keyed table, freshness by TTL, and validators for a 304.

Writes are buffered and flushed in one transaction every ``flush_after_s`` or ``flush_at``
entries (and on close): a commit per response cost ~100 µs, more than the rest of the pipeline
together. Reads see the buffer first. A crash loses at most the last buffer, which is a cache.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx2

from storelink.store import EmbeddedStore

__all__ = ["CachedResponse", "ResponseCache", "cache_key"]


@dataclass(frozen=True, slots=True)
class CachedResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    stored_at: float
    expires_at: float
    etag: str | None
    last_modified: str | None

    def fresh(self, now: float) -> bool:
        return now < self.expires_at

    @property
    def has_validators(self) -> bool:
        return bool(self.etag or self.last_modified)

    def to_response(self, request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(self.status, headers=self.headers, content=self.body, request=request)


# Prefix of the key given to a request whose body cannot be read without sending it: the key is
# unique, and the cache neither serves nor stores under it.
_UNSHARED = "unshared:"


def _body(request: httpx2.Request) -> bytes | None:
    """The request's body, or None when only sending it could read it.

    A redirect's request (httpx2 builds it around the original request's stream) has its body in
    an unread in-memory :class:`httpx2.ByteStream`, which can be read here and sent afterwards. An
    async upload stream could be read only once, by the transport.
    """
    try:
        return request.content
    except httpx2.RequestNotRead:
        if isinstance(request.stream, httpx2.ByteStream):
            return request.read()
        return None


def cache_key(*, connector: str, partition: str, request: httpx2.Request) -> str:
    """Key = connector + credential partition + method + full URL + body.

    The partition is a fingerprint of the credential identity, so tenants never share entries.
    A streamed body that cannot be read before sending gets a key of its own, which
    :meth:`ResponseCache.get` never answers and :meth:`ResponseCache.put` never stores.
    """
    body = _body(request)
    if body is None:
        return _UNSHARED + secrets.token_hex(20)
    head = "\x00".join((connector, partition, request.method, str(request.url), "")).encode()
    # Hashed, because URLs can carry credentials (Bing's API key is a query parameter).
    return hashlib.blake2b(head + body, digest_size=20).hexdigest()


def _decode_headers(text: str) -> list[tuple[str, str]]:
    pairs = []
    for line in text.split("\n"):
        name, _, value = line.partition(": ")
        if name:
            pairs.append((name, value))
    return pairs


_DROPPED_HEADERS = {"content-encoding", "transfer-encoding", "content-length", "connection", "set-cookie"}


_Row = tuple[str, str, int, str, bytes, float, float, str | None, str | None, str]


@dataclass(slots=True)
class _Pending:
    """A response waiting for the next flush, kept raw: serialising it is batch work."""

    connector: str
    status: int
    raw_headers: list[tuple[bytes, bytes]]
    body: bytes
    stored_at: float
    expires_at: float
    store: str = ""  # the store whose connector read it (a webhook expires one store's entries)

    def row(self, key: str) -> _Row:
        lines: list[str] = []
        etag = last_modified = None
        for raw_name, raw_value in self.raw_headers:
            name = raw_name.decode("latin-1").lower()
            if name in _DROPPED_HEADERS:
                continue
            value = raw_value.decode("latin-1")
            lines.append(f"{name}: {value}")
            if name == "etag":
                etag = value
            elif name == "last-modified":
                last_modified = value
        text = "\n".join(lines)
        return (
            key,
            self.connector,
            self.status,
            text,
            self.body,
            self.stored_at,
            self.expires_at,
            etag,
            last_modified,
            self.store,
        )


class ResponseCache:
    def __init__(
        self,
        store: EmbeddedStore,
        *,
        wall_clock: Callable[[], float] = time.time,
        flush_after_s: float = 0.25,
        flush_at: int = 256,
    ) -> None:
        self._db = store.db
        self._wall_clock = wall_clock
        self._flush_after_s = flush_after_s
        self._flush_at = flush_at
        self._pending: dict[str, _Pending] = {}
        self._timer: asyncio.TimerHandle | None = None
        # Keys stored in the database, so a miss costs a set lookup, not a query. Another
        # process writing the same file is only a missed hit, never a wrong one.
        self._known: set[str] = {key for (key,) in self._db.execute("SELECT key FROM http_cache")}

    def now(self) -> float:
        return self._wall_clock()

    def get(self, key: str) -> CachedResponse | None:
        if key.startswith(_UNSHARED):
            return None
        pending = self._pending.get(key)
        row: tuple[Any, ...] | None
        if pending is not None:
            row = pending.row(key)[2:9]
        elif key not in self._known:
            return None
        else:
            row = self._db.execute(
                "SELECT status, headers, body, stored_at, expires_at, etag, last_modified "
                "FROM http_cache WHERE key = ?",
                (key,),
            ).fetchone()
        if row is None:
            return None
        status, headers, body, stored_at, expires_at, etag, last_modified = row
        return CachedResponse(
            status=status,
            headers=_decode_headers(headers),
            body=body,
            stored_at=stored_at,
            expires_at=expires_at,
            etag=etag,
            last_modified=last_modified,
        )

    def put(self, key: str, *, connector: str, response: httpx2.Response, ttl_s: float, store: str = "") -> None:
        if key.startswith(_UNSHARED):
            return
        now = self.now()
        self._pending[key] = _Pending(
            connector, response.status_code, list(response.headers.raw), response.content, now, now + ttl_s, store
        )
        self._schedule_flush()

    def refresh(self, key: str, ttl_s: float) -> None:
        """A 304 said the entry is still right: give it a new lease."""
        now = self.now()
        pending = self._pending.get(key)
        if pending is not None:
            pending.stored_at, pending.expires_at = now, now + ttl_s
            return
        self._db.execute("UPDATE http_cache SET stored_at = ?, expires_at = ? WHERE key = ?", (now, now + ttl_s, key))

    def _schedule_flush(self) -> None:
        if len(self._pending) >= self._flush_at:
            self.flush()
            return
        if self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()
                return
            self._timer = loop.call_later(self._flush_after_s, self.flush)

    def flush(self) -> None:
        """Write buffered entries in one transaction."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._pending:
            return
        rows = [pending.row(key) for key, pending in self._pending.items()]
        self._known.update(self._pending)
        self._pending.clear()
        self._db.execute("BEGIN")
        try:
            self._db.executemany(
                "INSERT OR REPLACE INTO http_cache "
                "(key, connector, status, headers, body, stored_at, expires_at, etag, last_modified, store) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def expire(self, connector: str | None = None, *, store: str | None = None) -> None:
        """Mark entries stale (all, one connector's, or one connector's of one store): the next read
        revalidates or refetches."""
        self.flush()
        if connector is None:
            self._db.execute("UPDATE http_cache SET expires_at = 0")
        elif store is None:
            self._db.execute("UPDATE http_cache SET expires_at = 0 WHERE connector = ?", (connector,))
        else:
            where = "connector = ? AND store = ?"
            self._db.execute(f"UPDATE http_cache SET expires_at = 0 WHERE {where}", (connector, store))  # noqa: S608

    def forget(self, store: str, *, containing: Sequence[str] = ()) -> int:
        """Delete one store's entries: those whose body holds any of ``containing`` (a customer's
        email, a gid), or all of them when it is empty (compliance redaction). Returns how many."""
        self.flush()
        if containing:
            match = " OR ".join("instr(body, ?) > 0" for _ in containing)
            args: tuple[Any, ...] = (store, *(needle.encode() for needle in containing))
            cursor = self._db.execute(f"DELETE FROM http_cache WHERE store = ? AND ({match})", args)  # noqa: S608
        else:
            cursor = self._db.execute("DELETE FROM http_cache WHERE store = ?", (store,))
        self._known = {key for (key,) in self._db.execute("SELECT key FROM http_cache")}
        return cursor.rowcount

    def purge_expired(self, *, keep_with_validators: bool = True) -> int:
        """Drop entries that can no longer be served or revalidated."""
        self.flush()
        clause = " AND etag IS NULL AND last_modified IS NULL" if keep_with_validators else ""
        cursor = self._db.execute(f"DELETE FROM http_cache WHERE expires_at < ?{clause}", (self.now(),))  # noqa: S608
        self._known = {key for (key,) in self._db.execute("SELECT key FROM http_cache")}
        return cursor.rowcount
