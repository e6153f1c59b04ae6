"""Every store one deployment serves, each opened on first use.

``async with open_fleet(settings) as fleet:`` reads the stores (:func:`configured_stores`: the
stores file, the demo stores, or the one store the environment describes), opens what they share
(:class:`~storelink.runtime.Platform`) and nothing else: a store's connectors and fakes are built
the first time someone asks for that store (``await fleet.runtime("north")``), so a hundred
configured stores start in the time one does and cost little until used.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Protocol

import httpx2

from storelink.clock import Clock
from storelink.connectors.base import Connector
from storelink.errors import ConnectorError, ErrorKind, clip
from storelink.observability.metrics import Metrics
from storelink.runtime import Platform, Runtime, build_runtime, open_platform
from storelink.settings import Settings
from storelink.store import EmbeddedStore
from storelink.store_calendar import Wall
from storelink.stores import StoreConfig
from storelink.stores_file import configured_stores

__all__ = ["Fleet", "OneStore", "StoreDirectory", "open_fleet"]


class StoreDirectory(Protocol):
    """How the pages, the MCP server and the CLI reach stores: by id, runtimes opened on demand."""

    def ids(self) -> list[str]: ...

    def stores(self) -> list[StoreConfig]: ...

    def config(self, store_id: str) -> StoreConfig: ...

    def opened(self) -> list[str]: ...

    async def runtime(self, store_id: str) -> Runtime: ...


class OneStore:
    """A directory of one runtime that is already open (``open_runtime``'s, in tests and tools)."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def ids(self) -> list[str]:
        return [self._runtime.config.id]

    def stores(self) -> list[StoreConfig]:
        return [self._runtime.config]

    def config(self, store_id: str) -> StoreConfig:
        if store_id != self._runtime.config.id:
            raise _no_store(store_id, self.ids())
        return self._runtime.config

    def opened(self) -> list[str]:
        return self.ids()

    async def runtime(self, store_id: str) -> Runtime:
        self.config(store_id)
        return self._runtime


def _no_store(store_id: str, ids: Sequence[str]) -> ConnectorError:
    known = ", ".join(ids) if len(ids) <= 20 else f"{len(ids)} stores"
    return ConnectorError(
        ErrorKind.INVALID_REQUEST,
        f"There is no store {clip(store_id)!r}. Stores: {known} (`storelink stores list` lists them).",
    )


class Fleet:
    """The stores, by id, in the order they were configured; their runtimes, opened lazily.
    A :class:`StoreDirectory`."""

    def __init__(
        self,
        platform: Platform,
        stores: Sequence[StoreConfig],
        *,
        connectors: Sequence[type[Connector]] | None = None,
        transports: Mapping[str, Mapping[str, httpx2.AsyncBaseTransport]] | None = None,
    ) -> None:
        self.platform = platform
        self._configs = {store.id: store for store in stores}
        self._connectors = connectors
        self._transports = transports or {}
        self._runtimes: dict[str, Runtime] = {}
        self._opening: dict[str, asyncio.Lock] = {}

    @property
    def settings(self) -> Settings:
        return self.platform.settings

    def ids(self) -> list[str]:
        return list(self._configs)

    def stores(self) -> list[StoreConfig]:
        return list(self._configs.values())

    def config(self, store_id: str) -> StoreConfig:
        """The store named ``store_id``; an unknown id is the caller's mistake, said plainly."""
        found = self._configs.get(store_id)
        if found is None:
            raise _no_store(store_id, list(self._configs))
        return found

    def opened(self) -> list[str]:
        """The stores whose runtime has been built (in order of first use)."""
        return list(self._runtimes)

    async def runtime(self, store_id: str) -> Runtime:
        """``store_id``'s runtime, built on first use (once, however many callers ask at once)."""
        found = self._runtimes.get(store_id)
        if found is not None:
            return found
        config = self.config(store_id)
        lock = self._opening.setdefault(store_id, asyncio.Lock())
        async with lock:
            found = self._runtimes.get(store_id)
            if found is None:
                found = build_runtime(
                    self.platform,
                    config,
                    connectors=self._connectors,
                    transports=self._transports.get(store_id),
                )
                self._runtimes[store_id] = found
        return found

    async def aclose(self) -> None:
        runtimes, self._runtimes = self._runtimes, {}
        for runtime in runtimes.values():
            await runtime.aclose()


@asynccontextmanager
async def open_fleet(
    settings: Settings,
    *,
    stores: Sequence[StoreConfig] | None = None,
    connectors: Sequence[type[Connector]] | None = None,
    transports: Mapping[str, Mapping[str, httpx2.AsyncBaseTransport]] | None = None,
    clock: Clock | None = None,
    metrics: Metrics | None = None,
    store: EmbeddedStore | None = None,
    random_source: Callable[[], float] = random.random,
    wall: Wall | None = None,
) -> AsyncIterator[Fleet]:
    """Open the shared parts for ``stores`` (the configured ones when None). ``transports`` maps a
    store id to the wires that replace its connectors' (tests)."""
    stores = list(stores) if stores is not None else configured_stores(settings)
    secrets = [secret for config in stores for secret in config.secret_values()]
    async with open_platform(
        settings, clock=clock, metrics=metrics, store=store, random_source=random_source, wall=wall, secrets=secrets
    ) as platform:
        fleet = Fleet(platform, stores, connectors=connectors, transports=transports)
        try:
            yield fleet
        finally:
            await fleet.aclose()
