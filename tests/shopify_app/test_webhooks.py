"""Webhooks: only signed deliveries are accepted, each is processed once, topics do their work."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from storelink.database.postgres import Database
from storelink.errors import ConnectorError, ErrorKind
from storelink.fakes.shopify.admin import embedded_url, mint_session_token
from storelink.fakes.shopify.webhooks import SignedDelivery, WebhookSender, sign
from storelink.main import create_app
from storelink.resilience.cache import ResponseCache
from storelink.shopify_app.compliance import Compliance
from storelink.shopify_app.webhooks import (
    STALE_CLAIM_S,
    Delivery,
    EmbeddedLedger,
    PostgresLedger,
    WebhookInbox,
    signature_ok,
    topic_handlers,
    webhook_routes,
)
from storelink.store import EmbeddedStore
from tests.shopify_app.app_support import API_KEY, API_SECRET, APP_URL, app_settings
from tests.support.postgres_server import SHARED_POSTGRES_URL, drop_schema, new_schema
from tests.web.helpers import LOCAL, portal_of

SECRET = "shpss_0123456789abcdef0123456789abcdef"
SHOP = "north.myshopify.com"
URL = "https://app.test/shopify/webhooks"


@dataclass
class Shops:
    """The installations registry as the webhooks see it: north is store s1, south is store s2."""

    stores: dict[str, str] = field(default_factory=lambda: {SHOP: "s1", "south.myshopify.com": "s2"})
    uninstalled: list[str] = field(default_factory=list)

    async def store_for(self, shop: str) -> str | None:
        return None if shop in self.uninstalled else self.stores.get(shop)

    async def store_of(self, shop: str) -> str | None:
        return self.stores.get(shop)

    async def uninstall(self, shop: str) -> None:
        self.uninstalled.append(shop)


@dataclass
class Rig:
    inbox: WebhookInbox
    sender: WebhookSender
    store: EmbeddedStore
    cache: ResponseCache
    shops: Shops
    calls: list[Delivery]


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    store = EmbeddedStore(None)
    cache = ResponseCache(store, wall_clock=lambda: 1000.0)
    shops = Shops()
    calls: list[Delivery] = []
    handlers = topic_handlers(shops, cache, Compliance(store, cache))

    async def recorded(delivery: Delivery) -> None:
        calls.append(delivery)
        await handlers[delivery.topic](delivery)

    inbox = WebhookInbox(EmbeddedLedger(store), dict.fromkeys(handlers, recorded), wall=lambda: 1000.0)
    app = Starlette(routes=webhook_routes(lambda request: inbox, lambda request: SECRET))
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app)) as client:
        yield Rig(inbox, WebhookSender(SECRET, client=client, url=URL), store, cache, shops, calls)
    store.close()


def forgeries(genuine: SignedDelivery, n: int, seed: int = 18) -> list[SignedDelivery]:
    """``n`` deliveries that must all be refused: bodies truncated, bit-flipped, extended or swapped
    under the genuine signature; the genuine body signed with other secrets or mangled signatures."""
    rng = random.Random(seed)
    body, headers = genuine.body, genuine.headers
    found: list[SignedDelivery] = []
    while len(found) < n:
        kind = len(found) % 6
        if kind == 0:
            found.append(genuine.with_body(body[: rng.randrange(len(body))]))  # truncated
        elif kind == 1:
            flipped = bytearray(body)
            flipped[rng.randrange(len(body))] ^= 1 << rng.randrange(8)  # one bit flipped
            found.append(genuine.with_body(bytes(flipped)))
        elif kind == 2:
            found.append(genuine.with_body(body + b" "))  # a byte appended (JSON-equivalent)
        elif kind == 3:
            other = f"shpss_{rng.getrandbits(128):032x}"  # re-signed with another app's secret
            found.append(SignedDelivery(body, {**headers, "X-Shopify-Hmac-Sha256": sign(body, other)}))
        elif kind == 4:
            signature = bytearray(headers["X-Shopify-Hmac-Sha256"].encode())
            signature[rng.randrange(len(signature) - 1)] = ord(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
            mangled = bytes(signature).decode()
            if mangled == headers["X-Shopify-Hmac-Sha256"]:
                continue
            found.append(SignedDelivery(body, {**headers, "X-Shopify-Hmac-Sha256": mangled}))
        else:
            dropped = {k: v for k, v in headers.items() if k != "X-Shopify-Hmac-Sha256"}
            found.append(SignedDelivery(body, rng.choice([dropped, {**dropped, "X-Shopify-Hmac-Sha256": ""}])))
    return found


async def test_300_forged_truncated_resigned_or_bit_flipped_deliveries_are_all_refused(rig: Rig) -> None:
    genuine = rig.sender.signed("products/update", SHOP, {"id": 7, "title": "Wool socks", "admin_graphql_api_id": "x"})
    statuses = [await rig.sender.post(forged) for forged in forgeries(genuine, 300)]
    accepted = [s for s in statuses if s != 401]
    assert accepted == [] and len(statuses) == 300
    assert rig.calls == []
    assert rig.store.db.execute("SELECT count(*) FROM shopify_webhook_deliveries").fetchone() == (0,)
    assert await rig.sender.post(genuine) == 200  # the genuine one, last, is accepted
    assert len(rig.calls) == 1


def test_the_signature_is_over_the_raw_bytes() -> None:
    body = b'{"a":1}'
    header = sign(body, SECRET)
    assert signature_ok(body, header, SECRET)
    assert not signature_ok(b'{"a": 1}', header, SECRET)  # the same JSON, other bytes
    assert not signature_ok(body, header, "")  # no secret configured: nothing is genuine


async def test_a_delivery_repeated_5_times_is_processed_once(rig: Rig) -> None:
    delivery = rig.sender.signed("orders/create", SHOP, {"id": 1})
    statuses = [await rig.sender.post(delivery) for _ in range(5)]
    assert statuses == [200] * 5
    assert len(rig.calls) == 1 and rig.inbox.processed == {"orders/create": 1}


async def test_concurrent_copies_of_a_delivery_are_processed_once(rig: Rig) -> None:
    delivery = rig.sender.signed("orders/create", SHOP, {"id": 2})
    statuses = await asyncio.gather(*(rig.sender.post(delivery) for _ in range(5)))
    assert statuses == [200] * 5 and len(rig.calls) == 1


async def test_a_failed_job_answers_500_and_shopify_s_retry_does_it() -> None:
    store = EmbeddedStore(None)
    failures = [RuntimeError("the database hiccuped")]
    done: list[str] = []

    async def flaky(delivery: Delivery) -> None:
        if failures:
            raise failures.pop()
        done.append(delivery.id)

    inbox = WebhookInbox(EmbeddedLedger(store), {"orders/create": flaky}, wall=lambda: 1000.0)
    app = Starlette(routes=webhook_routes(lambda request: inbox, lambda request: SECRET))
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app)) as client:
        sender = WebhookSender(SECRET, client=client, url=URL, sleep=sleep, compress=3600.0)
        report = await sender.deliver(sender.signed("orders/create", SHOP, {"id": 3}))
    assert report.statuses == [500, 200] and report.ok
    assert len(done) == 1 and len(waits) == 1 and waits[0] == pytest.approx(report.waits_s[0] / 3600.0)


async def test_work_longer_than_the_answer_window_is_answered_200_and_finished_after() -> None:
    store = EmbeddedStore(None)
    release = asyncio.Event()
    done: list[str] = []

    async def slow(delivery: Delivery) -> None:
        await release.wait()
        done.append(delivery.id)

    inbox = WebhookInbox(EmbeddedLedger(store), {"orders/create": slow}, answer_within_s=0.0)
    delivery = Delivery("d-1", "orders/create", SHOP, {})
    assert await inbox.accept(delivery) == "running"
    release.set()
    await inbox.drain()
    assert done == ["d-1"] and await inbox.accept(delivery) == "duplicate"


async def test_a_full_queue_answers_busy_and_keeps_no_claim() -> None:
    store = EmbeddedStore(None)
    gate = asyncio.Event()

    async def blocked(delivery: Delivery) -> None:
        await gate.wait()

    inbox = WebhookInbox(EmbeddedLedger(store), {"t/x": blocked}, answer_within_s=0.0, queue_size=1)
    outcomes = [await inbox.accept(Delivery(f"d-{n}", "t/x", SHOP, {})) for n in range(3)]
    assert outcomes == ["running", "running", "busy"]  # one running, one queued, one refused
    claimed = {row[0] for row in store.db.execute("SELECT id FROM shopify_webhook_deliveries")}
    assert claimed == {"d-0", "d-1"}
    gate.set()
    await inbox.drain()


async def test_at_shutdown_queued_work_gets_a_grace_period_then_the_worker_stops() -> None:
    store = EmbeddedStore(None)
    never = asyncio.Event()
    done: list[str] = []

    async def quick(delivery: Delivery) -> None:
        done.append(delivery.id)

    async def stuck(delivery: Delivery) -> None:
        await never.wait()

    inbox = WebhookInbox(EmbeddedLedger(store), {"t/quick": quick, "t/stuck": stuck}, answer_within_s=0.0)
    assert await inbox.accept(Delivery("d-1", "t/quick", SHOP, {})) in ("done", "running")
    await inbox.aclose(grace_s=1.0)
    assert done == ["d-1"]
    assert await inbox.accept(Delivery("d-2", "t/stuck", SHOP, {})) == "running"
    await inbox.aclose(grace_s=0.05)  # does not wait for a job that never ends
    finished = store.db.execute("SELECT id FROM shopify_webhook_deliveries WHERE done_at IS NOT NULL").fetchall()
    assert finished == [("d-1",)]  # d-2 keeps an unfinished claim: Shopify's redelivery runs it later


async def test_app_uninstalled_uninstalls_the_shop(rig: Rig) -> None:
    assert await rig.sender.post(rig.sender.signed("app/uninstalled", SHOP, {"id": 1, "domain": SHOP})) == 200
    assert rig.shops.uninstalled == [SHOP]


async def test_shop_redact_after_the_uninstall_deletes_that_store_s_data_only(rig: Rig) -> None:
    """``shop/redact`` comes 48 hours after the uninstall: the shop's store is still found, and what
    storelink keeps of it (here its cache entries and a table with a ``store`` column) goes."""
    response = httpx2.Response(200, content=b'{"data":{}}')
    rig.cache.put("k-north", connector="shopify", response=response, ttl_s=600, store="s1")
    rig.cache.put("k-south", connector="shopify", response=response, ttl_s=600, store="s2")
    rig.store.db.execute("CREATE TABLE notes (store TEXT, text TEXT)")
    rig.store.db.executemany("INSERT INTO notes VALUES (?, ?)", [("s1", "north's"), ("s2", "south's")])
    assert await rig.sender.post(rig.sender.signed("app/uninstalled", SHOP, {"id": 1, "domain": SHOP})) == 200
    redact = {"shop_id": 1, "shop_domain": SHOP}
    assert await rig.sender.post(rig.sender.signed("shop/redact", SHOP, redact)) == 200
    assert (rig.cache.get("k-north"), rig.cache.get("k-south") is not None) == (None, True)
    assert rig.store.db.execute("SELECT store FROM notes").fetchall() == [("s2",)]


@pytest.mark.parametrize("topic", ["products/update", "inventory_levels/update", "orders/create"])
async def test_a_freshness_topic_expires_that_store_s_shopify_reads_only(rig: Rig, topic: str) -> None:
    response = httpx2.Response(200, content=b'{"data":{}}')
    rig.cache.put("k-north", connector="shopify", response=response, ttl_s=600, store="s1")
    rig.cache.put("k-south", connector="shopify", response=response, ttl_s=600, store="s2")
    rig.cache.put("k-north-ga4", connector="ga4", response=response, ttl_s=600, store="s1")
    assert await rig.sender.post(rig.sender.signed(topic, SHOP, {"id": 5})) == 200
    keys = ("k-north", "k-south", "k-north-ga4")
    fresh = {k: (entry := rig.cache.get(k)) is not None and entry.fresh(1000.0) for k in keys}
    assert fresh == {"k-north": False, "k-south": True, "k-north-ga4": True}


async def test_an_unknown_topic_is_acknowledged_and_bad_headers_are_400(rig: Rig) -> None:
    assert await rig.sender.post(rig.sender.signed("carts/update", SHOP, {"id": 1})) == 200
    bad_shop = rig.sender.signed("orders/create", "evil.example.com", {"id": 1})
    assert await rig.sender.post(bad_shop) == 400
    no_id = rig.sender.signed("orders/create", SHOP, {"id": 1})
    headers = {k: v for k, v in no_id.headers.items() if k not in ("X-Shopify-Webhook-Id", "X-Shopify-Event-Id")}
    assert await rig.sender.post(SignedDelivery(no_id.body, headers)) == 400
    assert rig.calls == []


@pytest.mark.slow
def test_app_uninstalled_through_the_app_disables_the_shop_s_store(tmp_path: Path) -> None:
    """The whole path: a shop installed by opening the embedded page, then Shopify's signed
    app/uninstalled: the installation ends and the store's Shopify tools answer ``disabled``."""
    app = create_app(app_settings(tmp_path, mcp_force_mocks=True, enable_mcp=False))
    with TestClient(app, **LOCAL) as client:
        token = mint_session_token(SHOP, api_key=API_KEY, secret=API_SECRET, now=time.time())
        assert client.get(embedded_url(APP_URL, SHOP, token).removeprefix(APP_URL)).status_code == 200
        installations = app.state.shopify_app.installations
        portal = portal_of(client)
        assert portal.call(installations.store_for, SHOP) == "north"
        body = json.dumps({"id": 1, "domain": SHOP}).encode()
        headers = {
            "X-Shopify-Topic": "app/uninstalled",
            "X-Shopify-Hmac-Sha256": sign(body, API_SECRET),
            "X-Shopify-Shop-Domain": SHOP,
            "X-Shopify-Webhook-Id": "wh-uninstall-1",
        }
        for _ in range(2):  # and its redelivery, which changes nothing
            assert client.post("/shopify/webhooks", content=body, headers=headers).status_code == 200
        assert portal.call(installations.store_for, SHOP) is None
        runtime = portal.call(app.state.fleet.runtime, "north")
        shopify = runtime.registry.get("shopify")
        assert shopify.mode == "disabled"
        with pytest.raises(ConnectorError) as caught:
            portal.call(shopify.call, "shop_info", {})
        assert caught.value.kind is ErrorKind.DISABLED
        assert app.state.shopify_app.webhooks.processed == {"app/uninstalled": 1}
        forged = {**headers, "X-Shopify-Hmac-Sha256": sign(body, "shpss_" + "0" * 32)}
        assert client.post("/shopify/webhooks", content=body, headers=forged).status_code == 401


@pytest.mark.slow
async def test_across_3_replicas_a_delivery_repeated_5_times_is_processed_once() -> None:
    """Three replicas' inboxes over one PostgreSQL schema (migration 0006): five copies of one
    delivery, spread over them and sent at once, do the work once; a stale unfinished claim is
    taken over, a finished one never."""
    schema = new_schema()
    databases = [Database(SHARED_POSTGRES_URL, schema=schema) for _ in range(3)]
    try:
        for db in databases:
            await db.open()
        done: list[str] = []

        async def work(delivery: Delivery) -> None:
            done.append(delivery.id)

        inboxes = [WebhookInbox(PostgresLedger(db), {"orders/create": work}, wall=lambda: 1000.0) for db in databases]
        delivery = Delivery("wh-5", "orders/create", SHOP, {"id": 5})
        outcomes = await asyncio.gather(*(inboxes[n % 3].accept(delivery) for n in range(5)))
        assert sorted(outcomes) == ["done"] + ["duplicate"] * 4 and done == ["wh-5"]
        ledger = PostgresLedger(databases[0])
        stale = Delivery("wh-6", "orders/create", SHOP, {})
        assert await ledger.claim(stale, 1000.0)  # a replica claimed it, then died
        assert not await ledger.claim(stale, 1000.0 + STALE_CLAIM_S - 1)
        assert await ledger.claim(stale, 1000.0 + STALE_CLAIM_S + 1)
        await ledger.finish("wh-6", 2000.0)
        assert not await ledger.claim(stale, 1_000_000.0)
    finally:
        for db in databases:
            await db.close()
        drop_schema(schema)
