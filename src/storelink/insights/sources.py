"""What the insights read, and nothing more: the store's connectors, the clock a missing
connector's day falls back to, and the settings' defaults (the lead time). The runtime fits this
shape as it is, so the insights need not know it (they stand below it)."""

from __future__ import annotations

from typing import Protocol

from storelink.clock import Clock
from storelink.connectors.registry import Registry
from storelink.settings import Settings

__all__ = ["InsightSources"]


class InsightSources(Protocol):
    @property
    def registry(self) -> Registry: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def settings(self) -> Settings: ...
