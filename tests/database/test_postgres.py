"""The PostgreSQL pool and migrations against the real server: applied once however many replicas
start together, a status that says what is pending, and a database that does not answer is a
clear ``unavailable`` error that never repeats the URL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from storelink.database.postgres import Database, migrations, open_database
from storelink.errors import ConnectorError, ErrorKind
from storelink.observability.metrics import Metrics
from storelink.settings import Settings
from tests.support.postgres_server import SHARED_POSTGRES_URL, drop_schema, new_schema, postgres_answers
from tests.support.redis_server import free_port

needs_postgres = pytest.mark.skipif(
    not postgres_answers(), reason="no PostgreSQL at 127.0.0.1:5432 (.ci/run starts one)"
)

pytestmark = pytest.mark.slow


def test_migrations_are_numbered_without_gaps() -> None:
    found = migrations()
    assert [m.version for m in found] == list(range(1, len(found) + 1))
    assert found[0].name == "write_audit"


@needs_postgres
async def test_three_replicas_starting_together_apply_each_migration_once(schema: str) -> None:
    replicas = [Database(SHARED_POSTGRES_URL, schema=schema) for _ in range(3)]
    for database in replicas:
        await database.open()
    try:
        before = await replicas[0].status()
        assert (
            before.reachable
            and before.version == 0
            and before.pending == [f"{m.version:04d}_{m.name}" for m in migrations()]
        )
        applied = await asyncio.gather(*(database.ensure_migrated() for database in replicas))
        assert sorted(len(names) for names in applied) == [0, 0, len(migrations())]
        after = await replicas[1].status()
        assert after.ready and after.version == len(migrations()) and after.pending == []
        assert [version for version, _, _ in await replicas[2].applied()] == [m.version for m in migrations()]
        assert await replicas[2].migrate() == []  # nothing left to do
    finally:
        for database in replicas:
            await database.close()


async def test_a_database_that_does_not_answer_is_unavailable_and_the_url_is_not_repeated() -> None:
    url = f"postgresql://storelink:s3cret-pw@127.0.0.1:{free_port()}/nowhere"
    database = Database(url, schema="storelink", timeout_s=0.5)
    await database.open()
    try:
        with pytest.raises(ConnectorError) as info:
            await database.ensure_migrated()
        status = await database.status()
    finally:
        await database.close()
    assert info.value.kind is ErrorKind.UNAVAILABLE and info.value.retryable
    assert "STORELINK_DATABASE_URL" in info.value.message and "s3cret-pw" not in info.value.message
    assert not status.reachable and not status.ready
    assert status.error is not None and "s3cret-pw" not in status.error


async def test_metrics_and_status_say_whether_postgres_answers(tmp_path: Path) -> None:
    reachable = postgres_answers()
    schema = new_schema()
    urls = {"down": f"postgresql://storelink:pw@127.0.0.1:{free_port()}/x"}
    if reachable:
        urls["up"] = SHARED_POSTGRES_URL
    try:
        for state, url in urls.items():
            metrics = Metrics()
            settings = Settings(_env_file=None, data_dir=tmp_path, database_url=url, database_schema=schema)
            async with open_database(settings, metrics=metrics) as database:
                assert database is not None
                rendered = metrics.render().decode()
                status = database.last_known()
            expected = "1.0" if state == "up" else "0.0"
            assert f"storelink_database_up {expected}" in rendered, state
            assert status.reachable is (state == "up")
            assert ("not answering" in status.message) is (state == "down") and "pw" not in status.message
    finally:
        if reachable:
            drop_schema(schema)
