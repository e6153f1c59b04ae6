"""Fixtures the PostgreSQL tests share: a schema of their own on the shared server, dropped after."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from storelink.database.postgres import Database
from tests.support.postgres_server import SHARED_POSTGRES_URL, drop_schema, new_schema


@pytest.fixture
def schema() -> Iterator[str]:
    name = new_schema()
    yield name
    drop_schema(name)


@pytest.fixture
async def database(schema: str) -> AsyncIterator[Database]:
    db = Database(SHARED_POSTGRES_URL, schema=schema)
    await db.open()
    yield db
    await db.close()
