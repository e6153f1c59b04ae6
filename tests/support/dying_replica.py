"""A replica in a process of its own, for a test to kill mid-write (issue 17).

``python -m tests.support.dying_replica SCHEMA PORT KEY`` opens the write connector of
``tests/connectors/test_writes.py`` on the shared PostgreSQL trail (schema ``SCHEMA``), with its
upstream at ``127.0.0.1:PORT``, and sends one write under idempotency key ``KEY``. The upstream the
test runs there reads the request and never answers, and the timeouts are long, so this process is
still waiting when the test kills it: between sending and recording the outcome.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

import httpx2

from storelink.observability.metrics import Metrics
from storelink.runtime import open_runtime
from storelink.store import EmbeddedStore
from tests.connectors.test_writes import WritingConnector
from tests.support.generic_connector import GenericSettings
from tests.support.postgres_server import SHARED_POSTGRES_URL


class ToLoopback(httpx2.AsyncBaseTransport):
    """Sends every request to the test's upstream on loopback, whatever host it names."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.inner = httpx2.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=self.port)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def write_once(schema: str, port: int, key: str) -> None:
    base = GenericSettings.model_fields["generic"].default
    settings = GenericSettings(
        _env_file=None,
        data_dir=Path(tempfile.mkdtemp(prefix="storelink-dying-")),
        allow_writes="generic.post",
        generic=base.model_copy(update={"timeout": 600.0, "deadline": 600.0}),
        database_url=SHARED_POSTGRES_URL,
        database_schema=schema,
    )
    async with open_runtime(
        settings,
        connectors=[WritingConnector],
        transports={"generic": ToLoopback(port)},
        metrics=Metrics(),
        store=EmbeddedStore(None),
    ) as runtime:
        await runtime.registry.get("generic").call("post", {"text": key, "idempotency_key": key})


if __name__ == "__main__":
    schema, port, key = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    asyncio.run(write_once(schema, port, key))
