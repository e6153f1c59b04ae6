"""Transports that sit under the pipeline, at the wire."""

from __future__ import annotations

import httpx2

__all__ = ["SharedTransport"]


class SharedTransport(httpx2.AsyncBaseTransport):
    """A connector's wire lent to a side client (token exchanges, downloads): closing the side
    client leaves the wire open for the connector, which closes it itself."""

    def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        return await self.inner.handle_async_request(request)
