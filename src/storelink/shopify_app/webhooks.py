"""Shopify's webhooks at ``POST /shopify/webhooks``: signed, processed once, answered in time.

A delivery is accepted only when ``X-Shopify-Hmac-Sha256`` is the base64 HMAC-SHA256 of the raw body
under the app's client secret (compared in constant time); anything else is 401 before the body is
parsed. Each delivery is claimed once in a ledger (:class:`EmbeddedLedger`, or
:class:`PostgresLedger` so that replicas share it: ``INSERT … ON CONFLICT DO NOTHING`` semantics, the
first replica wins), keyed by ``X-Shopify-Webhook-Id`` (the same on every retry of a delivery; the
event id when it is absent). A redelivery of a claimed delivery is answered 200 and does nothing.

Shopify waits 5 s for an answer, then retries (8 times over 4 hours). The work goes to a bounded
in-process queue with one worker; the request waits for it at most :data:`ANSWER_WITHIN_S`:

* done in time: 200, the claim marked done;
* failed in time: the claim is released and the answer is 500, so Shopify's retry does it again;
* still running: 200 (Shopify must not wait); if it then fails it is logged and the claim released,
  so a later redelivery is processed;
* queue full: the claim is released and the answer is 503 (Shopify retries later).

A claim whose work never finished (its replica died) may be taken again after :data:`STALE_CLAIM_S`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from storelink.database.postgres import Database
from storelink.errors import ConnectorError, ErrorKind, clip
from storelink.resilience.cache import ResponseCache
from storelink.runtime import Runtime
from storelink.settings import Settings
from storelink.shopify_app.compliance import Compliance
from storelink.shopify_app.shops import valid_shop
from storelink.store import EmbeddedStore

__all__ = [
    "ANSWER_WITHIN_S",
    "FRESHNESS_TOPICS",
    "STALE_CLAIM_S",
    "AppParts",
    "Delivery",
    "EmbeddedLedger",
    "Handler",
    "Ledger",
    "PostgresLedger",
    "ShopStores",
    "WebhookInbox",
    "app_webhook_routes",
    "parse_delivery",
    "shared_inbox",
    "sign",
    "signature_ok",
    "topic_handlers",
    "webhook_routes",
]

log = logging.getLogger("storelink.shopify_app")

ANSWER_WITHIN_S = 3.0  # of Shopify's 5 s: the rest is the network's
STALE_CLAIM_S = 300.0  # a claim unfinished for this long belonged to a replica that died
KEEP_CLAIMS_S = 86_400.0  # Shopify retries for 4 hours; a day of ids is plenty
QUEUE_SIZE = 1000
PATH = "/shopify/webhooks"

Outcome = Literal["done", "duplicate", "failed", "running", "busy"]


def sign(body: bytes, secret: str) -> str:
    """The ``X-Shopify-Hmac-Sha256`` of ``body``: base64 of its HMAC-SHA256 under ``secret``."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def signature_ok(body: bytes, header: str | None, secret: str) -> bool:
    """Whether ``header`` signs exactly ``body`` (constant-time compare)."""
    if not header or not secret:
        return False
    return hmac.compare_digest(sign(body, secret).encode(), header.strip().encode())


@dataclass(frozen=True, slots=True)
class Delivery:
    """One verified delivery: its id (for processing once), topic, shop and JSON payload."""

    id: str
    topic: str
    shop: str
    payload: Mapping[str, Any]
    triggered_at: str | None = None


def _bad(message: str) -> ConnectorError:
    return ConnectorError(ErrorKind.INVALID_REQUEST, message, connector="shopify_app", operation="webhook", status=400)


def parse_delivery(headers: Mapping[str, str], body: bytes) -> Delivery:
    """A signed delivery's headers and body as a :class:`Delivery` (INVALID_REQUEST when they lack
    what Shopify always sends)."""
    topic = headers.get("x-shopify-topic", "").strip()
    delivery_id = (headers.get("x-shopify-webhook-id") or headers.get("x-shopify-event-id") or "").strip()
    if not topic or not delivery_id:
        raise _bad("A webhook needs X-Shopify-Topic and X-Shopify-Webhook-Id (or X-Shopify-Event-Id).")
    shop = valid_shop(headers.get("x-shopify-shop-domain", ""))
    try:
        payload = json.loads(body) if body else {}
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _bad("The webhook body is not JSON.") from None
    if not isinstance(payload, dict):
        raise _bad("The webhook body is not a JSON object.")
    return Delivery(clip(delivery_id, 200), clip(topic, 100), shop, payload, headers.get("x-shopify-triggered-at"))


# -- the ledger: each delivery claimed once --------------------------------------------------------
class Ledger(Protocol):
    async def claim(self, delivery: Delivery, now: float) -> bool:
        """True for the one caller that should do the delivery's work."""
        ...

    async def finish(self, delivery_id: str, now: float) -> None: ...

    async def release(self, delivery_id: str) -> None:
        """Forget a claim whose work failed, so a redelivery does it."""
        ...


# One text for SQLite (3.35+) and PostgreSQL (`?` swapped for `%s`): a new id is inserted; a known
# one is taken over only when its work never finished and its claim is stale. RETURNING says who won.
_CLAIM = (
    "INSERT INTO shopify_webhook_deliveries (id, topic, shop, claimed_at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (id) DO UPDATE SET claimed_at = excluded.claimed_at "
    "WHERE shopify_webhook_deliveries.done_at IS NULL AND shopify_webhook_deliveries.claimed_at < ? "
    "RETURNING id"
)
_FINISH = "UPDATE shopify_webhook_deliveries SET done_at = ? WHERE id = ?"
_PRUNE = "DELETE FROM shopify_webhook_deliveries WHERE claimed_at < ? AND done_at IS NOT NULL"
_RELEASE = "DELETE FROM shopify_webhook_deliveries WHERE id = ? AND done_at IS NULL"
_EMBEDDED_TABLE = (
    "CREATE TABLE IF NOT EXISTS shopify_webhook_deliveries (id TEXT PRIMARY KEY, topic TEXT NOT NULL, "
    "shop TEXT NOT NULL, claimed_at REAL NOT NULL, done_at REAL)"
)


def _claim_args(delivery: Delivery, now: float) -> tuple[object, ...]:
    return (delivery.id, delivery.topic, delivery.shop, now, now - STALE_CLAIM_S)


class EmbeddedLedger:
    """The ledger in the embedded store: one replica (no ``STORELINK_DATABASE_URL``)."""

    def __init__(self, store: EmbeddedStore) -> None:
        self._db = store.db
        self._db.execute(_EMBEDDED_TABLE)

    async def claim(self, delivery: Delivery, now: float) -> bool:
        return self._db.execute(_CLAIM, _claim_args(delivery, now)).fetchone() is not None

    async def finish(self, delivery_id: str, now: float) -> None:
        self._db.execute(_FINISH, (now, delivery_id))
        self._db.execute(_PRUNE, (now - KEEP_CLAIMS_S,))

    async def release(self, delivery_id: str) -> None:
        self._db.execute(_RELEASE, (delivery_id,))


class PostgresLedger:
    """The ledger in PostgreSQL (migration 0006), shared by every replica."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def _run(self, statement: str, args: tuple[object, ...]) -> bool:
        await self._db.ensure_migrated()
        async with self._db.connection() as conn:
            cursor = await conn.execute(statement.replace("?", "%s"), args)
            return cursor.description is not None and await cursor.fetchone() is not None

    async def claim(self, delivery: Delivery, now: float) -> bool:
        return await self._run(_CLAIM, _claim_args(delivery, now))

    async def finish(self, delivery_id: str, now: float) -> None:
        await self._run(_FINISH, (now, delivery_id))
        await self._run(_PRUNE, (now - KEEP_CLAIMS_S,))

    async def release(self, delivery_id: str) -> None:
        await self._run(_RELEASE, (delivery_id,))


# -- the inbox: a bounded queue and one worker -----------------------------------------------------
Handler = Callable[[Delivery], Awaitable[None]]


@dataclass
class _Job:
    delivery: Delivery
    handler: Handler
    result: asyncio.Future[None]


class WebhookInbox:
    """Claims deliveries in the ledger, queues their work and runs it, one job at a time.

    ``handlers`` maps a topic (``app/uninstalled``) to its work; a topic without one is claimed and
    answered 200 (Shopify only sends what the app subscribed to). The worker is a task started when
    a job is queued and ended when the queue is empty, so the inbox needs no lifespan of its own.
    """

    def __init__(
        self,
        ledger: Ledger,
        handlers: Mapping[str, Handler],
        *,
        wall: Callable[[], float] = time.time,
        answer_within_s: float = ANSWER_WITHIN_S,
        queue_size: int = QUEUE_SIZE,
    ) -> None:
        self.ledger = ledger
        self.handlers = dict(handlers)
        self._wall = wall
        self._answer_within_s = answer_within_s
        self._queue: asyncio.Queue[_Job] = asyncio.Queue(maxsize=queue_size)
        self._worker: asyncio.Task[None] | None = None
        self.processed: dict[str, int] = {}  # topic -> deliveries whose work succeeded (tests, logs)

    async def accept(self, delivery: Delivery) -> Outcome:
        """Claim, queue and wait (at most ``answer_within_s``) for a delivery's work."""
        if not await self.ledger.claim(delivery, self._wall()):
            log.info("shopify webhook %s (%s) for %s: already processed", delivery.id, delivery.topic, delivery.shop)
            return "duplicate"
        handler = self.handlers.get(delivery.topic)
        if handler is None:
            await self.ledger.finish(delivery.id, self._wall())
            return "done"
        job = _Job(delivery, handler, asyncio.get_running_loop().create_future())
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            await self.ledger.release(delivery.id)
            log.warning("shopify webhook %s (%s): the queue is full; Shopify will retry", delivery.id, delivery.topic)
            return "busy"
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._work(), name="storelink-shopify-webhooks")
        try:
            await asyncio.wait_for(asyncio.shield(job.result), self._answer_within_s)
        except TimeoutError:
            return "running"
        except Exception:  # noqa: BLE001  (logged by the worker; the answer tells Shopify to retry)
            return "failed"
        return "done"

    async def _work(self) -> None:
        while True:
            try:
                job = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            await self._run(job)
            self._queue.task_done()

    async def _run(self, job: _Job) -> None:
        delivery = job.delivery
        try:
            await job.handler(delivery)
        except Exception as exc:  # noqa: BLE001  (one failed job must not stop the worker)
            log.warning(
                "shopify webhook %s (%s) for %s failed: %s: %s; its claim is released for Shopify's retry",
                delivery.id,
                delivery.topic,
                delivery.shop,
                type(exc).__name__,
                clip(str(exc), 300),
            )
            with contextlib.suppress(Exception):
                await self.ledger.release(delivery.id)
            job.result.set_exception(exc)
            job.result.exception()  # retrieved here: nobody may be waiting any more
            return
        await self.ledger.finish(delivery.id, self._wall())
        self.processed[delivery.topic] = self.processed.get(delivery.topic, 0) + 1
        log.info("shopify webhook %s (%s) for %s: processed", delivery.id, delivery.topic, delivery.shop)
        job.result.set_result(None)

    async def drain(self) -> None:
        """Wait until every queued job has run (tests; shutdown)."""
        await self._queue.join()

    async def aclose(self, *, grace_s: float = 5.0) -> None:
        """At shutdown: let queued jobs finish for up to ``grace_s``, then stop the worker. A job cut
        short keeps its claim unfinished; after the stale window Shopify's redelivery runs it again."""
        try:
            async with asyncio.timeout(grace_s):
                await self.drain()
        except TimeoutError:
            log.warning("shopify webhooks: %d job(s) not finished at shutdown", self._queue.qsize())
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker


_STATUS: dict[Outcome, int] = {"done": 200, "duplicate": 200, "running": 200, "failed": 500, "busy": 503}


def webhook_routes(inbox: Callable[[Request], WebhookInbox], secret: Callable[[Request], str]) -> list[BaseRoute]:
    """``POST /shopify/webhooks``: ``inbox`` and ``secret`` (the app's client secret) for a request."""

    async def receive(request: Request) -> Response:
        body = await request.body()  # the raw bytes: the HMAC is over them, not over parsed JSON
        if not signature_ok(body, request.headers.get("x-shopify-hmac-sha256"), secret(request)):
            return JSONResponse({"error": "unauthorized", "message": "The HMAC signature does not match."}, 401)
        try:
            delivery = parse_delivery(request.headers, body)
            outcome = await inbox(request).accept(delivery)
        except ConnectorError as exc:
            status = exc.status if exc.kind is ErrorKind.INVALID_REQUEST else 503
            return JSONResponse({"error": exc.kind.value, "message": exc.message}, status or 400)
        return JSONResponse({"outcome": outcome}, _STATUS[outcome])

    return [Route(PATH, receive, methods=["POST"])]


# -- what each topic does ------------------------------------------------------------------------
class ShopStores(Protocol):
    """What the webhooks need of the installations registry (shopify_app/installations.py)."""

    async def store_for(self, shop: str) -> str | None: ...

    async def store_of(self, shop: str) -> str | None: ...

    async def uninstall(self, shop: str) -> None: ...


# Topics whose delivery means the shop's cached Shopify reads may be wrong now. The cache records
# the connector and store of an entry, not its operation (its key is a hash), so all of that
# store's Shopify entries are marked stale: the next read of each revalidates or refetches.
FRESHNESS_TOPICS = ("products/update", "inventory_levels/update", "orders/create")


def topic_handlers(
    shops: ShopStores,
    cache: ResponseCache,
    compliance: Compliance,
) -> dict[str, Handler]:
    """The work of each subscribed topic. Compliance topics find the store of a shop that may have
    uninstalled already (``shops.store_of``: ``shop/redact`` comes 48 hours after it)."""
    find_any = shops.store_of

    async def uninstalled(delivery: Delivery) -> None:
        await shops.uninstall(delivery.shop)

    async def stale(delivery: Delivery) -> None:
        store_id = await shops.store_for(delivery.shop)
        if store_id is not None:
            cache.expire("shopify", store=store_id)

    async def data_request(delivery: Delivery) -> None:
        store_id = await find_any(delivery.shop)
        if store_id is not None:
            await compliance.data_request(delivery.shop, store_id, delivery.payload)

    async def redact_customer(delivery: Delivery) -> None:
        store_id = await find_any(delivery.shop)
        if store_id is not None:
            await compliance.redact_customer(store_id, delivery.payload)

    async def redact_shop(delivery: Delivery) -> None:
        store_id = await find_any(delivery.shop)
        if store_id is not None:
            await compliance.redact_shop(store_id)

    return {
        "app/uninstalled": uninstalled,
        **dict.fromkeys(FRESHNESS_TOPICS, stale),
        "customers/data_request": data_request,
        "customers/redact": redact_customer,
        "shop/redact": redact_shop,
    }


# -- the running app ------------------------------------------------------------------------------
class AppParts(Protocol):
    """What the webhooks need of the app (shopify_app/routes.py's ``ShopifyApp``)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def webhooks(self) -> WebhookInbox: ...


def shared_inbox(runtime: Runtime, shops: ShopStores) -> WebhookInbox:
    """The app's inbox over what the stores share, read from ``runtime`` (any store's: the embedded
    store, the response cache, Redis's when replicas share one, and PostgreSQL when the deployment
    has it, are everyone's)."""
    database = runtime.database
    ledger: Ledger = PostgresLedger(database) if database is not None else EmbeddedLedger(runtime.store)
    compliance = Compliance(runtime.store, runtime.cache, database)
    return WebhookInbox(ledger, topic_handlers(shops, runtime.cache, compliance))


def app_webhook_routes(app_of: Callable[[Request], AppParts]) -> list[BaseRoute]:
    """:func:`webhook_routes` for the running app: its inbox, and its client secret."""

    def secret(request: Request) -> str:
        configured = app_of(request).settings.shopify_api_secret
        return configured.get_secret_value() if configured is not None else ""

    return webhook_routes(lambda request: app_of(request).webhooks, secret)
