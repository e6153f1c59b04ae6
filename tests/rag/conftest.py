"""Shared helpers: the demo site in-process, a SiteKnowledge over it, a loopback server by name."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import uvicorn

from storelink.fakes.base import InProcessTransport
from storelink.fakes.site import SiteFake
from storelink.rag.knowledge import SiteKnowledge
from storelink.rag.vectors import MemoryVectors
from storelink.store import EmbeddedStore
from tests.conftest import make_settings

SITE = "https://www.apexperformanceparts.example"


@asynccontextmanager
async def open_kb(
    tmp_path: Path, fake: SiteFake, *, dense: bool | None = False, **kwargs: Any
) -> AsyncIterator[SiteKnowledge]:
    """Lexical-only unless asked; dense runs use exact in-memory vectors (Chroma has its own test)."""
    settings = kwargs.pop("settings", None) or make_settings(tmp_path)
    vectors = MemoryVectors(384) if dense else None
    kb = await SiteKnowledge.open(
        settings,
        store=kwargs.pop("store", None) or EmbeddedStore(None),
        transport=InProcessTransport(fake.app),
        dense=dense,
        vectors=vectors,
        **kwargs,
    )
    try:
        yield kb
    finally:
        await kb.aclose()


def paths(urls: list[str] | set[str]) -> set[str]:
    return {u.removeprefix(SITE) or "/" for u in urls}


class ConnectTo(httpx2.AsyncBaseTransport):
    """Like curl's --connect-to: requests keep their URL and Host header (a name, not an IP),
    but the connection goes to a loopback port. Fakes DNS, not the HTTP library."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.inner = httpx2.AsyncHTTPTransport(retries=0)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.url.host != self.host:
            return await self.inner.handle_async_request(request)
        wire = httpx2.Request(
            request.method,
            request.url.copy_with(scheme="http", host="127.0.0.1", port=self.port),
            headers=request.headers,  # Host stays the name
            stream=request.stream,
            extensions=request.extensions,
        )
        return await self.inner.handle_async_request(wire)

    async def aclose(self) -> None:
        await self.inner.aclose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def serve_on_loopback(fake: SiteFake) -> AsyncIterator[int]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(fake.app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        server.force_exit = True
        await task
