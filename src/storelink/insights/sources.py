"""What the insights read, and nothing more: the store's connectors, the clock a missing
connector's day falls back to, and the settings' defaults (the lead time). The runtime fits this
shape as it is, so the insights need not know it (they stand below it)."""

from __future__ import annotations

from typing import Protocol

from storelink.clock import Clock
from storelink.connectors.registry import Registry
from storelink.settings import Settings
from storelink.stores import StoreConfig

__all__ = ["InsightSources", "StoreSources", "Stores"]


class InsightSources(Protocol):
    @property
    def registry(self) -> Registry: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def settings(self) -> Settings: ...


class StoreSources(InsightSources, Protocol):
    """One store's sources, and which store they are."""

    @property
    def config(self) -> StoreConfig: ...


class Stores(Protocol):
    """What the answers across stores read: the stores by id, each store's sources on demand (the
    runtime's store directory fits this shape)."""

    def config(self, store_id: str) -> StoreConfig: ...

    async def runtime(self, store_id: str) -> StoreSources: ...
