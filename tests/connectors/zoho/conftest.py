"""A Zoho fake with test credentials on loop time, and a runtime in live mode pointed at it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from storelink.connectors.zoho import ZohoConnector
from storelink.fakes.base import InProcessTransport
from storelink.fakes.zoho import ZohoFake
from storelink.observability.metrics import Metrics
from storelink.runtime import Runtime, open_runtime
from storelink.store import EmbeddedStore
from tests.conftest import make_settings

CLIENT_ID = "1000.TESTCLIENTZOHO0000000000000000"
CLIENT_SECRET = "zoho-test-client-secret-5b4a3f2e"
REFRESH_TOKEN = "1000.zohotestrefresh.9f8e7d6c5b4a"


def loop_clock() -> float:
    return asyncio.get_running_loop().time()


def zoho_connector(rt: Runtime) -> ZohoConnector:
    """The runtime's Zoho connector, typed as such (the registry hands out a Connector)."""
    connector = rt.registry.get("zoho")
    assert isinstance(connector, ZohoConnector)
    return connector


@pytest.fixture
def zoho_fake() -> ZohoFake:
    return ZohoFake(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, refresh_token=REFRESH_TOKEN, clock=loop_clock)


def zoho_settings(tmp_path: Path, **overrides: Any) -> Any:
    values: dict[str, Any] = {
        "zoho_client_id": CLIENT_ID,
        "zoho_client_secret": CLIENT_SECRET,
        "zoho_refresh_token": REFRESH_TOKEN,
        **overrides,
    }
    return make_settings(tmp_path, **values)


@asynccontextmanager
async def live_zoho(
    fake: ZohoFake, tmp_path: Path, *, store: EmbeddedStore | None = None, **settings: Any
) -> AsyncIterator[Runtime]:
    """Live mode (credentials set) with the wire pointed at the fake: the real live code path."""
    async with open_runtime(
        zoho_settings(tmp_path, **settings),
        connectors=[ZohoConnector],
        transports={"zoho": InProcessTransport(fake.app)},
        metrics=Metrics(),
        store=store or EmbeddedStore(None),
        random_source=lambda: 0.5,
    ) as rt:
        yield rt
