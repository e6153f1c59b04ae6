"""The write audit log's two backends (``AuditTrail`` over SQLite and over PostgreSQL): the same tests run on
the embedded SQLite store and on the real PostgreSQL, each run in a schema of its own."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import pytest

from storelink.audit import AuditTrail, embedded_trail
from storelink.database.audit import postgres_trail
from storelink.database.postgres import Database
from storelink.store import EmbeddedStore
from tests.support.postgres_server import SHARED_POSTGRES_URL, drop_schema, new_schema, postgres_answers

POSTGRES = pytest.param(
    "postgresql",
    marks=pytest.mark.skipif(not postgres_answers(), reason="no PostgreSQL at 127.0.0.1:5432 (.ci/run starts one)"),
)

pytestmark = pytest.mark.slow


@pytest.fixture(params=["sqlite", POSTGRES])
async def trail(request: pytest.FixtureRequest) -> AsyncIterator[AuditTrail]:
    ticks = itertools.count(1_000)  # a wall clock that moves one second per reading

    def wall() -> float:
        return float(next(ticks))

    if request.param == "sqlite":
        yield embedded_trail(EmbeddedStore(None), wall=wall)
        return
    schema = new_schema()
    database = Database(SHARED_POSTGRES_URL, schema=schema)
    await database.open()
    try:
        yield postgres_trail(database, wall=wall)
    finally:
        await database.close()
        drop_schema(schema)


async def claim(trail: AuditTrail, key: str, *, connector: str = "zoho", store: str = "default") -> object:
    return await trail.claim(
        key=key,
        connector=connector,
        operation="send_message",
        mode="mock",
        params_digest="d1",
        summary="to 1 recipient",
        store=store,
    )


async def test_a_key_is_claimed_once_and_then_read_back(trail: AuditTrail) -> None:
    assert await claim(trail, "k-0001") is None
    again = await claim(trail, "k-0001")
    assert again is not None
    found = await trail.call("k-0001")
    assert found == again and found is not None
    assert (found.outcome, found.finished, found.uses, found.summary) == ("unknown", False, 1, "to 1 recipient")


async def test_twenty_concurrent_claims_of_one_key_have_one_winner(trail: AuditTrail) -> None:
    outcomes = await asyncio.gather(*(claim(trail, "race-0001") for _ in range(20)))
    assert sum(outcome is None for outcome in outcomes) == 1


async def test_attempts_and_the_outcome_are_recorded(trail: AuditTrail) -> None:
    await claim(trail, "k-0002")
    first = await trail.begin_attempt(key="k-0002", connector="zoho", operation="send_message")
    await trail.end_attempt(first, "failed", status=429, error_kind="rate_limited", detail="x" * 900)
    second = await trail.begin_attempt(key="k-0002", connector="zoho", operation="send_message")
    await trail.end_attempt(second, "ok", status=200, request_id="req-7")
    await trail.finish("k-0002", "ok", result={"id": 7, "delivered": True})
    call = await trail.call("k-0002", with_attempts=True)
    assert call is not None and call.outcome == "ok" and call.finished
    assert call.result == {"id": 7, "delivered": True}
    assert [(a.outcome, a.status, a.request_id) for a in call.attempts] == [
        ("failed", 429, None),
        ("ok", 200, "req-7"),
    ]
    assert call.attempts[0].detail is not None and len(call.attempts[0].detail) == 500  # bounded
    assert second > first


async def test_a_rerun_and_replays_are_counted(trail: AuditTrail) -> None:
    await claim(trail, "k-0003")
    await trail.finish("k-0003", "failed", error_kind="invalid_request", error_message="refused")
    await trail.rerun("k-0003", mode="live", summary="again")
    await trail.finish("k-0003", "ok", result={"id": 1})
    await trail.note_replay("k-0003")
    call = await trail.call("k-0003")
    assert call is not None
    assert (call.outcome, call.error_kind, call.mode, call.uses, call.replays) == ("ok", None, "live", 3, 1)


async def test_recent_is_latest_first_and_filters(trail: AuditTrail) -> None:
    await claim(trail, "a-0001", connector="zoho", store="north")
    await claim(trail, "b-0001", connector="bing", store="north")
    await claim(trail, "c-0001", connector="zoho", store="south")
    await trail.begin_attempt(key="c-0001", connector="zoho", operation="send_message")
    assert [c.idempotency_key for c in await trail.recent()] == ["c-0001", "b-0001", "a-0001"]
    assert [c.idempotency_key for c in await trail.recent(limit=1)] == ["c-0001"]
    assert [c.idempotency_key for c in await trail.recent(store="north")] == ["b-0001", "a-0001"]
    assert [c.idempotency_key for c in await trail.recent(connector="zoho")] == ["c-0001", "a-0001"]
    [only] = await trail.recent(key="c-0001")
    assert only.store == "south" and len(only.attempts) == 1
    assert await trail.call("missing-01") is None
