"""The apps the browser tests and the screenshots look at."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
from starlette.applications import Starlette

from storelink.connectors.base import Connector
from storelink.connectors.shopify.client import ShopifyConnector
from storelink.main import create_app
from storelink.observability.metrics import Metrics
from storelink.runtime import Runtime, open_fleet, open_runtime
from storelink.settings import Settings
from storelink.store import EmbeddedStore
from tests.e2e.support import RuntimeFactory, replay_hour
from tests.web.helpers import CONNECTORS, NAMES, World, build_app, ops_settings

PASSWORD = "correct horse battery staple"


def settings_for(tmp: Path, **overrides: Any) -> Settings:
    return ops_settings(tmp, **overrides)


def factory(
    connectors: list[type[Connector]],
    transports: dict[str, httpx2.AsyncBaseTransport],
    store: EmbeddedStore,
) -> RuntimeFactory:
    @asynccontextmanager
    async def open_it(settings: Settings) -> AsyncIterator[Runtime]:
        async with open_runtime(
            settings, connectors=connectors, transports=transports, metrics=Metrics(), store=store
        ) as runtime:
            yield runtime

    return open_it


def builder(settings: Settings, **intervals: float) -> Callable[[RuntimeFactory], Starlette]:
    return lambda f: build_app(settings, f, **intervals)


def shop_with_history(
    tmp: Path, *, extra: tuple[str, ...] = (), replay: bool = True
) -> tuple[Settings, RuntimeFactory]:
    """Shopify in mock mode (with an hour of replayed traffic), plus the named generic connectors."""
    settings = settings_for(tmp)
    store = EmbeddedStore(None)
    if replay:
        asyncio.run(replay_hour(store, settings))
    world = World()
    transports = {n: t for n, t in world.transports(failing=False).items() if n in extra}
    return settings, factory([ShopifyConnector, *[CONNECTORS[n] for n in extra]], transports, store)


def registry_with_history(tmp: Path) -> tuple[Settings, RuntimeFactory]:
    """Every connector storelink ships, in mock mode, with an hour of Shopify traffic replayed."""
    from storelink.connectors.registry import builtin_connectors

    settings = settings_for(tmp)
    store = EmbeddedStore(None)
    asyncio.run(replay_hour(store, settings))
    return settings, factory(builtin_connectors(), {}, store)


def all_failing(tmp: Path) -> tuple[Settings, RuntimeFactory]:
    """Every connector fails: 500s, a rejected token, a missing scope, a stall, a closed port."""
    settings = settings_for(tmp)
    world = World()
    return settings, factory([CONNECTORS[n] for n in NAMES], world.transports(failing=True), EmbeddedStore(None))


def demo_fleet(tmp: Path, stores: int = 3) -> tuple[Settings, RuntimeFactory]:
    """``stores`` demo stores in mock mode, each with its own shop (opened on first use)."""
    settings = settings_for(tmp, demo_stores=stores, demo_today="2026-11-20")
    return settings, functools.partial(open_fleet, store=EmbeddedStore(None))


def fleet_builder(settings: Settings, *, health_interval_s: float = 60.0) -> Callable[[RuntimeFactory], Starlette]:
    return lambda f: create_app(settings, fleet_factory=f, health_interval_s=health_interval_s)
