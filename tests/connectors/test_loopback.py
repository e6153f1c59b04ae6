"""Every connector over a real socket: its fake served on loopback, the connector pointed at it
with STORELINK_<CONNECTOR>_BASE_URL (the path a proxy or a remote fake takes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from storelink.connectors.base import Connector
from storelink.connectors.registry import builtin_connectors
from storelink.fakes.data import demo_wall
from storelink.mock_mode import build_fake
from storelink.runtime import open_runtime
from storelink.store import EmbeddedStore
from storelink.stores import environment_store
from tests.conftest import make_settings
from tests.support.servers import free_port, serve_in_thread

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("cls", builtin_connectors(), ids=lambda c: c.name)
async def test_probe_over_loopback(cls: type[Connector], tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    port = free_port()
    config = environment_store(settings).connector(cls.name)
    fake = build_fake(cls.name, config, demo_today=settings.demo_today, wall=demo_wall(settings.demo_today))
    with serve_in_thread(fake.app, port) as url:
        knobs = {cls.name: {"base_url": url}}
        async with open_runtime(make_settings(tmp_path, **knobs), connectors=[cls], store=EmbeddedStore(None)) as rt:
            connector = rt.registry.get(cls.name)
            assert connector.mode == "mock"
            assert rt.fakes == {}  # nothing in-process: the socket is the only way
            health = await connector.health()
    assert health.status == "ok", health.message
