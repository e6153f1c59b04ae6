"""Zoho OAuth against the fake's accounts server: cached tokens, early refresh, single flight, the
10-per-10-minutes cap, Zoho's odd error shapes, and no credential in any log, error or store row."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from storelink.connectors.zoho.auth import LOCAL_CAP, REFRESH_MARGIN_S, StoreTokenCache
from storelink.errors import ConnectorError, ErrorKind
from storelink.fakes.faults import Fault, FaultPlan
from storelink.fakes.zoho import ZohoFake
from storelink.store import EmbeddedStore
from tests.connectors.zoho.conftest import (
    CLIENT_ID,
    CLIENT_SECRET,
    REFRESH_TOKEN,
    live_zoho,
    loop_clock,
    zoho_connector,
)

pytestmark = pytest.mark.looptime

TOKEN = "POST /oauth/v2/token"


async def test_token_is_cached_in_the_store_across_processes(zoho_fake: ZohoFake, tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    store = EmbeddedStore(path)
    async with live_zoho(zoho_fake, tmp_path, store=store) as rt:
        await rt.registry.get("zoho").call("list_accounts", {})
    assert zoho_fake.token_requests == 1
    # A new process (a new runtime over the same database file) reuses the token.
    async with live_zoho(zoho_fake, tmp_path, store=EmbeddedStore(path)) as rt:
        await rt.registry.get("zoho").call("list_folders", {})
        assert zoho_connector(rt).oauth.token_requests == 0
    assert zoho_fake.token_requests == 1


async def test_refreshed_ahead_of_expiry_without_a_401(zoho_fake: ZohoFake, tmp_path: Path) -> None:
    async with live_zoho(zoho_fake, tmp_path) as rt:
        zoho = zoho_connector(rt)
        await zoho.call("list_accounts", {})
        later = time.time() + 3600 - REFRESH_MARGIN_S + 1  # inside the margin, before the hour is up
        zoho.oauth.wall = lambda: later
        await zoho.call("list_folders", {})
    assert zoho_fake.token_requests == 2
    assert rt.metrics.counter_value("storelink_retries", connector="zoho", reason="unauthorized") == 0


async def test_one_refresh_for_many_concurrent_calls(zoho_fake: ZohoFake, tmp_path: Path) -> None:
    async with live_zoho(zoho_fake, tmp_path) as rt:
        zoho = rt.registry.get("zoho")
        await asyncio.gather(*(zoho.call("list_accounts", {}) for _ in range(15)))
        assert zoho_fake.token_requests == 1
        # Zoho stops honouring the token: every call in flight gets a 401, one refresh serves them all.
        zoho_fake.expire_tokens()
        await asyncio.gather(*(zoho.call("list_folders", {}) for _ in range(15)))
        assert zoho_fake.token_requests == 2


async def test_a_401_is_refreshed_once_and_the_call_succeeds(zoho_fake: ZohoFake, tmp_path: Path) -> None:
    async with live_zoho(zoho_fake, tmp_path) as rt:
        zoho = rt.registry.get("zoho")
        await zoho.call("list_accounts", {})
        zoho_fake.expire_tokens()  # no injected fault: the token itself goes stale
        envelope = await zoho.call("list_messages", {"limit": 1, "folder": None})
    assert envelope.meta.attempts == 2 and len(envelope.data.items) == 1
    assert zoho_fake.token_requests == 2
    assert rt.metrics.counter_value("storelink_retries", connector="zoho", reason="unauthorized") == 1


async def test_local_cap_stops_before_zoho_blocks(zoho_fake: ZohoFake, tmp_path: Path) -> None:
    store = EmbeddedStore(None)
    async with live_zoho(zoho_fake, tmp_path, store=store) as rt:
        zoho = zoho_connector(rt)
        cache = StoreTokenCache(store)
        now = time.time()
        for i in range(LOCAL_CAP):  # other processes already asked this many times in the window
            cache.record_request(zoho.oauth.identity, now - 500 + i)
        with pytest.raises(ConnectorError) as info:
            await zoho.call("list_accounts", {})
    err = info.value
    assert err.kind is ErrorKind.RATE_LIMITED and "10 minutes" in err.message
    assert err.retry_after_s == pytest.approx(100, abs=2)
    assert zoho_fake.stats[TOKEN] == 0


async def test_access_denied_blocks_the_rest_of_the_window(zoho_fake: ZohoFake, tmp_path: Path) -> None:
    now = loop_clock()
    zoho_fake.token_state.requests.extend(now - 10 for _ in range(10))  # someone else used the quota
    async with live_zoho(zoho_fake, tmp_path) as rt:
        zoho = rt.registry.get("zoho")
        for _ in range(3):
            with pytest.raises(ConnectorError) as info:
                await zoho.call("list_accounts", {})
            assert info.value.kind is ErrorKind.RATE_LIMITED
            assert info.value.retry_after_s is not None and info.value.retry_after_s > 500
    assert zoho_fake.stats[TOKEN] == 1  # after Access Denied, storelink stops asking


async def test_revoked_refresh_token_names_the_data_centre(tmp_path: Path) -> None:
    fake = ZohoFake(
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, refresh_token="1000.another.one", clock=loop_clock
    )
    async with live_zoho(fake, tmp_path, zoho_dc="eu") as rt:
        with pytest.raises(ConnectorError) as info:
            await rt.registry.get("zoho").call("list_accounts", {})
    err = info.value
    assert err.kind is ErrorKind.UNAUTHORIZED and err.upstream_code == "invalid_code"
    assert "ZOHO_DC='eu'" in err.message and "storelink auth zoho" in err.message
    assert fake.stats[TOKEN] == 1


async def test_unknown_client(tmp_path: Path) -> None:
    fake = ZohoFake(client_id="1000.someoneelse", client_secret=CLIENT_SECRET, refresh_token=REFRESH_TOKEN)
    async with live_zoho(fake, tmp_path) as rt:
        with pytest.raises(ConnectorError) as info:
            await rt.registry.get("zoho").call("list_accounts", {})
    assert info.value.kind is ErrorKind.UNAUTHORIZED and "ZOHO_CLIENT_ID" in info.value.message


# -- the token endpoint under faults: the same kinds and retries as any call (issue 14, finding 8) --------
DEADLINE_S = 30.0  # the default STORELINK_ZOHO_DEADLINE


@pytest.mark.parametrize(
    ("plan", "kind", "token_requests"),
    [
        (FaultPlan(rates={Fault("429"): 1.0}, retry_after_s=2), ErrorKind.RATE_LIMITED, 4),
        (FaultPlan(rates={Fault("503"): 1.0}), ErrorKind.UNAVAILABLE, 4),
        (FaultPlan(rates={Fault("reset"): 1.0}), ErrorKind.UNAVAILABLE, 4),
        (FaultPlan(rates={Fault("truncated"): 1.0}), ErrorKind.UNAVAILABLE, 4),
        (FaultPlan(rates={Fault("stall"): 1.0}), ErrorKind.TIMEOUT, 3),  # 10 s attempts until the 30 s deadline
        (FaultPlan(rates={Fault("malformed"): 1.0}), ErrorKind.UPSTREAM_ERROR, 1),  # not retried, like any call
    ],
    ids=["429", "503", "reset", "truncated", "stall", "malformed"],
)
async def test_token_endpoint_failing_every_time(
    zoho_fake: ZohoFake, tmp_path: Path, plan: FaultPlan, kind: ErrorKind, token_requests: int
) -> None:
    zoho_fake.token_faults = plan
    started = loop_clock()
    async with live_zoho(zoho_fake, tmp_path) as rt:
        with pytest.raises(ConnectorError) as info:
            await rt.registry.get("zoho").call("list_accounts", {})
    assert info.value.kind is kind, info.value.message
    assert zoho_fake.stats[TOKEN] == token_requests
    assert zoho_fake.stats["GET /api/accounts"] == 0
    assert loop_clock() - started <= DEADLINE_S


@pytest.mark.parametrize("fault", ["429", "500", "503", "reset", "truncated", "stall"])
async def test_token_endpoint_recovers_after_a_burst(zoho_fake: ZohoFake, tmp_path: Path, fault: str) -> None:
    zoho_fake.token_faults = FaultPlan.scripted(fault, fault, retry_after_s=3)
    started = loop_clock()
    async with live_zoho(zoho_fake, tmp_path) as rt:
        envelope = await rt.registry.get("zoho").call("list_accounts", {})
    elapsed = loop_clock() - started
    assert envelope.data.items and zoho_fake.stats[TOKEN] == 3
    assert zoho_fake.token_requests == (3 if fault == "truncated" else 1)  # a truncated answer was still minted
    assert elapsed <= DEADLINE_S
    if fault == "429":
        assert elapsed >= 6.0  # Retry-After honoured twice


async def test_a_slow_token_leaves_the_mail_request_only_what_is_left_of_the_deadline(
    zoho_fake: ZohoFake, tmp_path: Path
) -> None:
    zoho_fake.token_faults = FaultPlan.scripted("stall", "stall")  # the token arrives after ~20 s
    zoho_fake.faults = FaultPlan(rates={Fault("stall"): 1.0})  # and the Mail API never answers
    started = loop_clock()
    async with live_zoho(zoho_fake, tmp_path) as rt:
        with pytest.raises(ConnectorError) as info:
            await rt.registry.get("zoho").call("list_accounts", {})
    assert info.value.kind is ErrorKind.TIMEOUT
    assert loop_clock() - started <= DEADLINE_S


async def test_mail_api_faults_do_not_reach_the_token_endpoint(zoho_fake: ZohoFake, tmp_path: Path) -> None:
    zoho_fake.faults = FaultPlan.scripted("503", "503")
    async with live_zoho(zoho_fake, tmp_path) as rt:
        envelope = await rt.registry.get("zoho").call("list_accounts", {})
    assert envelope.meta.attempts == 3 and zoho_fake.stats[TOKEN] == 1


async def test_no_credential_leaks(zoho_fake: ZohoFake, tmp_path: Path) -> None:
    lines: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(logging.Formatter().format(record))

    handler = Capture(logging.DEBUG)
    root = logging.getLogger()
    old_level = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    errors: list[str] = []
    store = EmbeddedStore(None)
    try:
        async with live_zoho(zoho_fake, tmp_path, store=store, allow_writes="zoho.send_message") as rt:
            zoho = rt.registry.get("zoho")
            await zoho.call("list_messages", {"limit": 3})
            zoho_fake.expire_tokens()
            await zoho.call("search_messages", {"text": "order"})
            await zoho.call("send_message", {"to": ["a@example.com"], "subject": "s", "content": "c"})
            zoho_fake.faults = FaultPlan.scripted("401", "401")
            try:
                await zoho.call("list_folders", {})
            except ConnectorError as err:
                errors += [str(err), err.envelope().model_dump_json()]
            metrics = rt.metrics.render().decode()
            rows = [
                repr(r)
                for table in (
                    "oauth_tokens",
                    "zoho_token_requests",
                    "zoho_token_blocks",
                    "write_calls",
                    "write_attempts",
                )
                for r in store.db.execute(f"SELECT * FROM {table}").fetchall()  # noqa: S608
            ]
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    text = "\n".join(lines + errors + [metrics])
    for secret in (REFRESH_TOKEN, CLIENT_SECRET):
        assert secret not in text
        assert secret not in "\n".join(rows)  # the store keeps a hash of the identity, not the token
    for access_token in zoho_fake.tokens:
        assert access_token not in text
