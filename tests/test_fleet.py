"""Many stores in one process: opened on first use, each with its own connectors, fakes, breakers
and metrics; one store's failures leave another's calls alone."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from storelink.errors import ConnectorError, ErrorKind
from storelink.fakes.faults import Fault, FaultPlan
from storelink.resilience.breaker import BreakerState
from storelink.runtime import open_fleet
from storelink.store import EmbeddedStore
from tests.conftest import make_settings


async def test_stores_open_on_first_use_and_once(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, demo_stores=100, demo_today="2026-11-20")
    async with open_fleet(settings, store=EmbeddedStore(None)) as fleet:
        assert len(fleet.ids()) == 100
        assert fleet.opened() == []  # nothing built until asked
        first, again = await asyncio.gather(fleet.runtime("demo-7"), fleet.runtime("demo-7"))
        assert first is again
        assert fleet.opened() == ["demo-7"]
        assert first.config.id == "demo-7" and first.metrics.store == "demo-7"
        with pytest.raises(ConnectorError, match="no store 'demo-101'") as refused:
            await fleet.runtime("demo-101")
        assert refused.value.kind is ErrorKind.INVALID_REQUEST


async def test_demo_stores_serve_different_shops(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, demo_stores=3, demo_today="2026-11-20")
    async with open_fleet(settings, store=EmbeddedStore(None)) as fleet:
        shops, sales = [], []
        for store_id in fleet.ids():
            runtime = await fleet.runtime(store_id)
            shopify = runtime.registry.get("shopify")
            assert shopify.mode == "mock"
            shops.append((await shopify.call("shop_info")).data.name)
            summary = await shopify.call("sales_summary", {"days": 7})
            sales.append(summary.data.model_dump_json())
    assert shops == ["Apex Performance Parts", "Northline Motorsport", "Redline Garage Supply"]
    assert len(set(sales)) == 3  # each store's seed draws its own orders


async def test_a_failing_store_leaves_the_others_alone(tmp_path: Path) -> None:
    """Store demo-1's Shopify answers 500 to everything until its breaker opens; demo-2's calls,
    breaker and metrics are untouched."""
    settings = make_settings(tmp_path, demo_stores=2, demo_today="2026-11-20", shopify={"max_retries": 0})
    async with open_fleet(settings, store=EmbeddedStore(None)) as fleet:
        broken, healthy = await fleet.runtime("demo-1"), await fleet.runtime("demo-2")
        broken.fakes["shopify"].faults = FaultPlan(rates={Fault.SERVER_ERROR: 1.0})
        failures = 0
        for _ in range(20):
            try:
                await broken.registry.get("shopify").call("shop_info")
            except ConnectorError:
                failures += 1
            envelope = await healthy.registry.get("shopify").call("shop_info")
            assert envelope.data.name == "Northline Motorsport"
        assert failures == 20
        assert broken.registry.get("shopify").breaker.state is BreakerState.OPEN
        assert healthy.registry.get("shopify").breaker.state is BreakerState.CLOSED
        assert healthy.metrics.counter_value("storelink_requests", connector="shopify", outcome="ok") == 20
        assert healthy.metrics.counter_value("storelink_requests", connector="shopify", outcome="unavailable") == 0
        assert broken.metrics.counter_value("storelink_requests", connector="shopify", outcome="ok") == 0
        assert healthy.errors is not None and healthy.errors.connectors() == []
        assert broken.errors is not None and broken.errors.total("shopify") == 20


async def test_a_disabled_connector_gets_no_fake(tmp_path: Path) -> None:
    """A store that lists only Shopify builds no fake (nor demo data) for the four it leaves off."""
    (tmp_path / "stores.toml").write_text('[[stores]]\nid = "north"\n[stores.shopify]\n')
    settings = make_settings(tmp_path, stores_file=tmp_path / "stores.toml", demo_today="2026-11-20")
    async with open_fleet(settings, store=EmbeddedStore(None)) as fleet:
        runtime = await fleet.runtime("north")
        assert set(runtime.fakes) == {"shopify"}
        assert {c.name: c.mode for c in runtime.registry} == {
            "shopify": "mock",
            "ga4": "disabled",
            "gsc": "disabled",
            "bing": "disabled",
            "zoho": "disabled",
        }
        with pytest.raises(ConnectorError, match="turned off") as refused:
            await runtime.registry.get("ga4").call("traffic_overview", {"days": 7})
        assert refused.value.kind is ErrorKind.DISABLED


async def test_each_store_reads_the_one_site_through_its_own_connectors(tmp_path: Path) -> None:
    """The site's index is opened once for all stores; a data question asked of a store is answered
    from that store's connectors, not another's."""
    settings = make_settings(tmp_path, demo_stores=2, demo_today="2026-11-20", site={"warm_up": False})
    async with open_fleet(settings, store=EmbeddedStore(None)) as fleet:
        first, second = await fleet.runtime("demo-1"), await fleet.runtime("demo-2")
        kb1, kb2 = await first.knowledge(), await second.knowledge()
        assert kb1.index is kb2.index and kb1.docs is kb2.docs  # one index, one model
        answers = [await kb.answer("How many orders did we get yesterday?") for kb in (kb1, kb2)]
        expected = [
            (await rt.registry.get("shopify").call("sales_summary", {"days": 1})).data.totals.orders
            for rt in (first, second)
        ]
    assert [a.route for a in answers] == ["live", "live"]
    assert [a.live.data["totals"]["orders"] for a in answers if a.live] == expected
    assert expected[0] != expected[1]


@pytest.mark.looptime
async def test_a_store_whose_every_connector_fails_leaves_anothers_answers_and_latency_alone(tmp_path: Path) -> None:
    """Every connector of demo-1 stalls, errs or refuses its token while demo-2's health probes run
    beside it for two minutes of loop time, until most of its breakers open. On loop time
    (``looptime``: waits are exact) demo-2's probes answer as they did alone: ok, and in the same
    time (none, for in-process fakes), so no wait, retry or refusal of demo-1's reached them."""
    settings = make_settings(tmp_path, demo_stores=2, demo_today="2026-11-20")
    loop = asyncio.get_running_loop()
    async with open_fleet(settings, store=EmbeddedStore(None)) as fleet:
        broken, healthy = await fleet.runtime("demo-1"), await fleet.runtime("demo-2")
        names = [c.name for c in healthy.registry if c.mode == "mock"]
        assert len(names) == 5

        async def probe_round() -> list[tuple[str, str, float]]:
            answers: list[tuple[str, str, float]] = []
            for name in names:
                started = loop.time()
                health = await healthy.registry.get(name).health()
                answers.append((name, health.status, loop.time() - started))
            return answers

        alone = [await probe_round() for _ in range(3)]
        for fake in broken.fakes.values():
            fake.faults = FaultPlan(
                rates={Fault.STALL: 0.3, Fault.SERVER_ERROR: 0.4, Fault.EXPIRED_TOKEN: 0.3}, stall_s=60.0, seed=16
            )
        stop = asyncio.Event()
        failures: list[str] = []

        async def hammer(name: str) -> None:
            connector = broken.registry.get(name)
            while not stop.is_set():
                health = await connector.health()
                failures.append(health.status)
                await asyncio.sleep(0.5)  # an open breaker refuses at once: let loop time move

        hammering = [asyncio.create_task(hammer(name)) for name in names for _ in range(4)]
        await asyncio.sleep(120.0)  # demo-1's calls are stalling, retrying and opening breakers
        beside = [await probe_round() for _ in range(3)]
        stop.set()
        await asyncio.gather(*hammering)

    assert beside == alone
    assert {status for _, status, _ in alone[0]} == {"ok"}
    assert failures and "ok" not in failures
    assert {broken.registry.get(name).breaker.state for name in names} != {BreakerState.CLOSED}
