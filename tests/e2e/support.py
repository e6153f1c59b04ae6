"""Browser tests' machinery: the dashboard served by uvicorn on a free loopback port in a thread,
the system Chromium driven by Playwright, and an hour of demo traffic replayed into the history.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
import uvicorn
from starlette.applications import Starlette

from storelink.connectors.shopify.client import ShopifyConnector
from storelink.errors import ConnectorError
from storelink.fakes.base import InProcessTransport
from storelink.fakes.faults import Fault, FaultPlan
from storelink.fakes.shopify import ShopifyFake
from storelink.observability.history import MetricsHistory
from storelink.observability.metrics import Metrics
from storelink.runtime import Runtime, open_runtime
from storelink.settings import Settings
from storelink.store import EmbeddedStore

CHROMIUM = os.environ.get("STORELINK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
T = TypeVar("T")


def chromium_missing() -> str | None:
    """Why browser tests cannot run here, or None when they can."""
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install playwright)"
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    return None


needs_chromium = pytest.mark.skipif(chromium_missing() is not None, reason=chromium_missing() or "")


@contextmanager
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    url: str
    app: Starlette
    loop: asyncio.AbstractEventLoop | None = None
    runtime: Runtime | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def call(self, coro: Callable[[], Awaitable[T]]) -> T:
        """Run a coroutine on the server's event loop (where the runtime lives)."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(_await(coro), self.loop).result(30)


async def _await(coro: Callable[[], Awaitable[T]]) -> T:
    return await coro()


RuntimeFactory = Callable[[Settings], Any]


def capturing(factory: RuntimeFactory, served: list[Served]) -> RuntimeFactory:
    """Wrap a runtime (or fleet) factory so the test learns the server's loop and runtime (or
    fleet, in ``extra["fleet"]``)."""

    @asynccontextmanager
    async def wrapped(settings: Settings) -> AsyncIterator[Any]:
        async with factory(settings) as opened:
            served[0].loop = asyncio.get_running_loop()
            if isinstance(opened, Runtime):
                served[0].runtime = opened
            else:  # a fleet factory's store directory
                served[0].extra["fleet"] = opened
            yield opened

    return wrapped


@contextmanager
def serve(build: Callable[[RuntimeFactory], Starlette], factory: RuntimeFactory) -> Iterator[Served]:
    """Serve ``build(factory)`` on a free loopback port until the block ends."""
    holder: list[Served] = [Served(url="", app=Starlette())]
    app = build(capturing(factory, holder))
    port = free_port()
    holder[0].app, holder[0].url = app, f"http://127.0.0.1:{port}"
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=1, ws="none"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="dashboard-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not (server.started and holder[0].loop is not None):
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the dashboard server did not start")
        time.sleep(0.02)
    try:
        yield holder[0]
    finally:
        server.should_exit = True
        thread.join(15)


# -- demo traffic ------------------------------------------------------------------------------------
def _plan(minute: int) -> FaultPlan:
    """A calm hour with one incident: 503s and throttling from minute 38 to 44."""
    if 38 <= minute <= 44:
        return FaultPlan(rates={Fault.UNAVAILABLE: 0.25, Fault.RATE_LIMITED: 0.1}, retry_after_s=0.05, seed=minute)
    return FaultPlan(rates={Fault.RATE_LIMITED: 0.01}, retry_after_s=0.05, seed=minute)


async def replay_hour(store: EmbeddedStore, settings: Settings, *, minutes: int = 60, per_minute: int = 4) -> int:
    """Real calls through the Shopify connector and fake, sampled as if a minute passed between
    batches: the dashboard's charts then have an hour of history. Returns the calls made."""
    wall = [time.time() - minutes * 60.0]
    mono = [0.0]
    metrics = Metrics(clock=lambda: mono[0])
    fake = ShopifyFake(plan="plus")  # an hour of calls in seconds needs Plus's 1,000 points/s
    quick = settings.model_copy(
        update={"shopify": settings.shopify.model_copy(update={"backoff_base": 0.01, "cache_ttl": 0.0})}
    )
    made = 0
    async with open_runtime(
        quick,
        connectors=[ShopifyConnector],
        transports={"shopify": InProcessTransport(fake.app)},
        metrics=metrics,
        store=EmbeddedStore(None),
    ) as runtime:
        history = MetricsHistory(store, metrics, clock=lambda: wall[0])
        shop = runtime.registry.get("shopify")
        calls = [(name, dict(spec.example or {})) for name, spec in sorted(shop.operations.items())]
        calls = [c for c in calls if c[0] in ("shop_info", "list_products", "list_orders", "get_order")]
        history.sample()
        for minute in range(minutes):
            wall[0] += 60.0  # the minute passes while its calls are made
            mono[0] += 60.0
            fake.faults = _plan(minute)
            for i in range(per_minute):
                name, params = calls[i % len(calls)]
                with suppress(ConnectorError):
                    await shop.call(name, params)
                made += 1
            history.sample()
    return made
