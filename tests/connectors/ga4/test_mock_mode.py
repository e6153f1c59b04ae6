"""Mock mode with no credentials at all: both Google connectors run against their in-process fakes
with the demo token, exactly as `storelink call ga4 traffic_overview -p days=28 --json` and
`storelink call gsc search_analytics -p days=28 -p dimensions=query --json` will."""

from __future__ import annotations

from pathlib import Path

from storelink.connectors.ga4.client import Ga4Connector
from storelink.connectors.gsc.client import GscConnector
from storelink.fakes.ga4 import Ga4Fake
from storelink.fakes.gsc import GscFake
from storelink.observability.metrics import Metrics
from storelink.runtime import decide_mode, open_runtime
from storelink.store import EmbeddedStore
from storelink.stores import environment_store
from tests.conftest import make_settings


async def test_both_connectors_work_in_mock_mode_without_credentials(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    store = environment_store(settings)
    for cls in (Ga4Connector, GscConnector):
        assert decide_mode(cls, store.connector(cls.name), force_mocks=False)[0] == "mock"
    async with open_runtime(settings, connectors=[Ga4Connector, GscConnector]) as rt:
        # The CLI passes `-p days=28` as the number 28 and `-p dimensions=query` as text.
        traffic = await rt.registry.get("ga4").call("traffic_overview", {"days": 28})
        search = await rt.registry.get("gsc").call("search_analytics", {"days": 28, "dimensions": "query"})
        assert isinstance(rt.fakes["ga4"], Ga4Fake) and isinstance(rt.fakes["gsc"], GscFake)
        token_exchanges = rt.fakes["ga4"].tokens.grants.total() + rt.fakes["gsc"].tokens.grants.total()
        health = [await c.health() for c in rt.registry]
    assert traffic.meta.mode == "mock" and search.meta.mode == "mock"
    assert len(traffic.data.days) == 28 and traffic.data.totals.sessions > 10_000
    assert traffic.data.totals.revenue > 0
    assert len(search.data.rows) == 100 and search.data.truncated and search.data.rows[0].clicks > 0  # default 100
    assert search.data.dimensions == ["query"]
    assert token_exchanges == 0  # the demo token needs no token endpoint
    assert [h.status for h in health] == ["ok", "ok"]
    dumped = traffic.model_dump(mode="json")
    assert dumped["data"]["days"][0]["date"].count("-") == 2


async def test_mock_mode_serves_the_configured_property_and_site(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, ga4_property_id="properties/123456", gsc_site_url="https://shop.example/")
    async with open_runtime(
        settings, connectors=[Ga4Connector, GscConnector], metrics=Metrics(), store=EmbeddedStore(None)
    ) as rt:
        ga4 = rt.registry.get("ga4")
        assert isinstance(ga4, Ga4Connector) and ga4.property == "properties/123456"
        assert (await ga4.call("channel_breakdown", {"days": 7})).data.channels
        gsc = rt.registry.get("gsc")
        sites = (await gsc.call("list_sites", {})).data.sites
    assert "https://shop.example/" in {s.site_url for s in sites}


async def test_every_operation_example_runs_against_the_fakes(tmp_path: Path) -> None:
    async with open_runtime(
        make_settings(tmp_path), connectors=[Ga4Connector, GscConnector], metrics=Metrics(), store=EmbeddedStore(None)
    ) as rt:
        for connector in rt.registry:
            for name, spec in connector.operations.items():
                assert spec.example is not None, f"{connector.name}.{name} declares no example"
                envelope = await connector.call(name, spec.example)
                assert envelope.meta.mode == "mock", name
