"""Bing's API key goes on the wire and nowhere else.

Bing takes its key as the ``apikey`` query parameter, and a URL travels far: httpx2 logs it
(``HTTP Request: GET …``), exceptions carry the request, caches key on it. So the key is not put
on the request the client and the pipeline see. This transport, the innermost layer, sends a
copy of each request with the key added and hands back the response and any exception with the
original, keyless request attached. Everything above it (logs, errors, metrics, the cache key,
the audit log) only ever sees URLs without the key.
"""

from __future__ import annotations

import httpx2
from pydantic import SecretStr

__all__ = ["ApiKeyTransport"]

PARAM = "apikey"


class ApiKeyTransport(httpx2.AsyncBaseTransport):
    def __init__(self, inner: httpx2.AsyncBaseTransport, *, api_key: SecretStr, host: str) -> None:
        self.inner = inner
        self._key = api_key
        self._host = host

    async def aclose(self) -> None:
        await self.inner.aclose()

    def _on_wire(self, request: httpx2.Request) -> httpx2.Request:
        # Only Bing's own host ever receives the key.
        if request.url.host != self._host:
            return request
        return httpx2.Request(
            request.method,
            request.url.copy_set_param(PARAM, self._key.get_secret_value()),
            headers=request.headers,
            stream=request.stream,
            extensions=request.extensions,
        )

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        wire = self._on_wire(request)
        try:
            response = await self.inner.handle_async_request(wire)
        except httpx2.RequestError as exc:
            exc.request = request  # the keyless one
            raise
        response.request = request
        return response
