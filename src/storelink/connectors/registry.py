"""The one registry of connectors that the MCP server, the pages and the CLI all read."""

from __future__ import annotations

from collections.abc import Iterator

from storelink.connectors.base import Connector
from storelink.errors import ConnectorError, ErrorKind, clip

__all__ = ["Registry", "builtin_connectors"]


def builtin_connectors() -> list[type[Connector]]:
    """Every connector storelink ships, in display order."""
    from storelink.connectors.bing import BingConnector
    from storelink.connectors.ga4.client import Ga4Connector
    from storelink.connectors.gsc.client import GscConnector
    from storelink.connectors.shopify.client import ShopifyConnector
    from storelink.connectors.zoho import ZohoConnector

    return [ShopifyConnector, Ga4Connector, GscConnector, BingConnector, ZohoConnector]


class Registry:
    def __init__(self, connectors: list[Connector]) -> None:
        self._by_name = {c.name: c for c in connectors}

    def __iter__(self) -> Iterator[Connector]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    def names(self) -> list[str]:
        return list(self._by_name)

    def get(self, name: str) -> Connector:
        found = self._by_name.get(name)
        if found is None:
            raise ConnectorError(
                ErrorKind.INVALID_REQUEST,
                f"There is no connector {clip(name)!r}. Connectors: {', '.join(self._by_name) or 'none'}.",
                connector=clip(name),
            )
        return found
