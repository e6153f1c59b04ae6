"""Writes belong to their store: the same idempotency key in two stores is two writes, each in its
store's audit trail, never a replay of the other store's."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from storelink.audit import embedded_trail
from storelink.fakes.bing import BingFake
from storelink.main import app
from storelink.runtime import open_fleet
from storelink.store import EmbeddedStore
from tests.conftest import make_settings

URL = "https://www.apexperformanceparts.example/products/new-arrival"


async def test_one_key_in_two_stores_is_two_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(tmp_path, demo_stores=2, demo_today="2026-11-20", allow_writes="bing.submit_urls")
    db = EmbeddedStore.in_data_dir(settings.data_dir)
    async with open_fleet(settings, store=db) as fleet:
        results = {}
        for store_id in fleet.ids():
            runtime = await fleet.runtime(store_id)
            envelope = await runtime.registry.get("bing").call(
                "submit_urls", {"urls": [URL], "idempotency_key": "launch-2026-11"}
            )
            results[store_id] = envelope.data
            fake = runtime.fakes["bing"]
            assert isinstance(fake, BingFake)
            assert fake.submitted == [URL], store_id  # each store's own upstream got its write
        assert not results["demo-2"].replayed
        trail = embedded_trail(db)
        assert [(c.store, c.outcome) for c in await trail.recent(store="demo-1")] == [("demo-1", "ok")]
        assert [(c.store, c.outcome) for c in await trail.recent(store="demo-2")] == [("demo-2", "ok")]
        assert len(await trail.recent()) == 2

    # `storelink audit --store` reads one store's trail, and finds a key as the caller gave it.
    monkeypatch.setenv("STORELINK_DATA_DIR", str(settings.data_dir))
    args = ["audit", "--store", "demo-2", "--key", "launch-2026-11", "--json"]
    shown = await asyncio.to_thread(CliRunner().invoke, app, args)  # the CLI runs an event loop of its own
    assert shown.exit_code == 0, shown.output
    (call,) = json.loads(shown.stdout)
    assert (call["store"], call["idempotency_key"]) == ("demo-2", "demo-2|launch-2026-11")
