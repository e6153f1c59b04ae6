"""``storelink db migrate|status`` and ``storelink audit`` against the real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from storelink.cli.app import app
from storelink.database.audit import postgres_trail
from storelink.database.postgres import Database, migrations
from tests.support.postgres_server import SHARED_POSTGRES_URL, drop_schema, new_schema, postgres_answers
from tests.support.redis_server import free_port

needs_postgres = pytest.mark.skipif(
    not postgres_answers(), reason="no PostgreSQL at 127.0.0.1:5432 (.ci/run starts one)"
)

pytestmark = pytest.mark.slow


@pytest.fixture
def schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    name = new_schema()
    monkeypatch.setenv("STORELINK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("STORELINK_DATABASE_URL", SHARED_POSTGRES_URL)
    monkeypatch.setenv("STORELINK_DATABASE_SCHEMA", name)
    monkeypatch.setenv("COLUMNS", "200")
    yield name
    drop_schema(name)


async def record_a_write(schema: str) -> None:
    database = Database(SHARED_POSTGRES_URL, schema=schema)
    await database.open()
    try:
        trail = postgres_trail(database, wall=lambda: 1_764_000_000.0)
        await trail.claim(
            key="pg-0001", connector="zoho", operation="send_message", mode="mock", params_digest="d", summary="to=a"
        )
        attempt = await trail.begin_attempt(key="pg-0001", connector="zoho", operation="send_message")
        await trail.end_attempt(attempt, "ok", status=200)
        await trail.finish("pg-0001", "ok", result={"id": 1})
    finally:
        await database.close()


@needs_postgres
def test_migrate_then_status_then_audit_reads_the_shared_trail(schema: str) -> None:
    runner = CliRunner()
    before = runner.invoke(app, ["db", "status", "--json"])
    assert before.exit_code == 1  # pending migrations: not ready
    assert json.loads(before.stdout)["pending"] == [f"{m.version:04d}_{m.name}" for m in migrations()]

    migrated = runner.invoke(app, ["db", "migrate"])
    assert migrated.exit_code == 0 and "applied 0001_write_audit, 0002_oauth_tokens, 0003" in migrated.stdout
    again = runner.invoke(app, ["db", "migrate"])
    assert again.exit_code == 0 and "nothing to apply" in again.stdout
    after = runner.invoke(app, ["db", "status", "--json"])
    assert after.exit_code == 0 and json.loads(after.stdout)["pending"] == []

    asyncio.run(record_a_write(schema))
    shown = runner.invoke(app, ["audit", "--json"])
    assert shown.exit_code == 0, shown.output
    [call] = json.loads(shown.stdout)
    assert (call["idempotency_key"], call["outcome"], len(call["attempts"])) == ("pg-0001", "ok", 1)


def test_a_database_that_does_not_answer_is_one_line_and_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORELINK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("STORELINK_DATABASE_URL", f"postgresql://storelink:pw-s3cret@127.0.0.1:{free_port()}/x")
    runner = CliRunner()
    for command in (["db", "status"], ["db", "migrate"], ["audit"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 1, (command, result.output)
        assert "did not answer" in result.output and "pw-s3cret" not in result.output
        assert "Traceback" not in result.output


def test_without_a_database_url_db_says_what_to_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORELINK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("STORELINK_DATABASE_URL", raising=False)
    result = CliRunner().invoke(app, ["db", "migrate"])
    assert result.exit_code == 2 and "STORELINK_DATABASE_URL is not set" in result.output
