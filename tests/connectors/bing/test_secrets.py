"""Canary: Bing's API key travels in its URLs, so prove it reaches no log line (httpx2's and
httpcore2's included, at DEBUG), no error or error envelope, no result, no metric, and nothing in
the embedded store (cache, audit log), over successes, every fault kind, refusals and writes."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from storelink.connectors.bing import BingConnector
from storelink.errors import ConnectorError
from storelink.fakes.base import InProcessTransport
from storelink.fakes.bing import DEMO_SITE_URL, BingFake
from storelink.fakes.faults import FaultPlan
from storelink.observability.metrics import Metrics
from storelink.runtime import Runtime, open_runtime
from storelink.store import EmbeddedStore
from tests.conftest import make_settings

CANARY = "CANARYbing9f8e7d6c5b4a3f2e1d0c9b"
URLS = [f"{DEMO_SITE_URL}products/canary-a", f"{DEMO_SITE_URL}products/canary-b"]
LOGGERS = ("", "httpx2", "httpcore2", "httpx", "httpcore", "storelink", "uvicorn", "asyncio")


class Capture(logging.Handler):
    """Keeps every record fully formatted (message and traceback), with no redaction filter."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def capture() -> Iterator[Capture]:
    handler = Capture()
    previous = {name: logging.getLogger(name).level for name in LOGGERS}
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        for name, level in previous.items():
            logging.getLogger(name).setLevel(level)


def _error_texts(err: ConnectorError) -> list[str]:
    return [
        str(err),
        repr(err),
        err.message,
        err.envelope().model_dump_json(),
        "".join(traceback.format_exception(err)),  # chained causes and contexts too
    ]


def _store_dump(rt: Runtime) -> str:
    rt.cache.flush()
    parts = []
    db = rt.store.db
    for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
        for row in db.execute(f"SELECT * FROM {table}").fetchall():  # noqa: S608  (names from sqlite_master)
            parts.append(repr(row))
    return "\n".join(parts)


async def _exercise(rt: Runtime, fake: BingFake, seen: list[str], *, stall_s: float = 3600.0) -> None:
    """Every path: successes, each fault on reads, refusals, a write that succeeds, one refused for
    quota and one whose outcome is unknown."""
    bing = rt.registry.get("bing")

    async def call(operation: str, params: dict[str, object]) -> None:
        try:
            seen.append((await bing.call(operation, params)).model_dump_json())
        except ConnectorError as err:
            seen.extend(_error_texts(err))

    for operation in ("list_sites", "query_stats", "page_stats", "rank_and_traffic_stats", "crawl_stats"):
        await call(operation, {})
    await call("url_submission_quota", {})
    for fault in ("500", "502", "stall", "reset", "malformed", "truncated", "429", "401"):
        fake.faults = FaultPlan(rates={FaultPlan.scripted(fault).script[0]: 1.0}, stall_s=stall_s)
        await call("url_submission_quota", {})
    fake.faults = FaultPlan()
    await call("crawl_stats", {"site_url": "https://blog.apexperformanceparts.example/"})  # NotAuthorized
    await call("query_stats", {"site_url": "https://not-mine.example/"})
    await call("submit_urls", {"urls": URLS})  # ok
    await call("submit_urls", {"urls": [*URLS, f"{DEMO_SITE_URL}x", f"{DEMO_SITE_URL}y"]})  # over the quota
    fake.faults = FaultPlan.scripted("ok", "stall", stall_s=stall_s)
    await call("submit_urls", {"urls": [f"{DEMO_SITE_URL}z"]})  # unknown outcome
    fake.faults = FaultPlan()


def _assert_clean(capture: Capture, rt: Runtime, seen: list[str]) -> None:
    logs = "\n".join(capture.lines)
    assert "HTTP Request: GET" in logs and "siteUrl=" in logs  # URLs were logged, so the check means something
    assert CANARY not in logs
    for text in seen:
        assert CANARY not in text
    assert CANARY not in rt.metrics.render().decode()
    assert CANARY not in json.dumps(rt.metrics.snapshot(), default=str)
    assert CANARY not in _store_dump(rt)


@pytest.mark.looptime
async def test_api_key_never_leaks_in_process(tmp_path: Path, capture: Capture) -> None:
    fake = BingFake(api_keys=frozenset({CANARY}), daily_quota=3)
    settings = make_settings(
        tmp_path,
        bing_wmt_api_key=CANARY,
        bing_site_url=DEMO_SITE_URL,
        allow_writes="bing.submit_urls",
        bing={"timeout": 2.0, "deadline": 30.0, "breaker_min_calls": 100},
    )
    seen: list[str] = []
    async with open_runtime(
        settings,
        connectors=[BingConnector],
        transports={"bing": InProcessTransport(fake.app)},
        metrics=Metrics(),
        store=EmbeddedStore(None),
        random_source=lambda: 0.5,
    ) as rt:
        await _exercise(rt, fake, seen)
        assert fake.submissions and fake.submissions[0] == URLS  # the key did reach Bing, on the wire
        _assert_clean(capture, rt, seen)

    # A key Bing rejects must not leak either.
    other = BingFake(api_keys=frozenset({"some-other-key-0000000000000000"}))
    async with open_runtime(
        settings,
        connectors=[BingConnector],
        transports={"bing": InProcessTransport(other.app)},
        metrics=Metrics(),
        store=EmbeddedStore(None),
    ) as rt:
        with pytest.raises(ConnectorError) as info:
            await rt.registry.get("bing").call("list_sites", {})
        assert info.value.upstream_code == "InvalidApiKey"
        _assert_clean(capture, rt, _error_texts(info.value))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
async def test_api_key_never_leaks_over_a_real_socket(tmp_path: Path, capture: Capture) -> None:
    """The pooled httpx2/httpcore2 transport of live mode, against the fake on loopback."""
    fake = BingFake(api_keys=frozenset({CANARY}), daily_quota=3)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            fake.app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110  (uvicorn offers no event to wait on)
        await asyncio.sleep(0.01)
    settings = make_settings(
        tmp_path,
        bing_wmt_api_key=CANARY,
        bing_site_url=DEMO_SITE_URL,
        allow_writes="bing.submit_urls",
        bing={
            "base_url": f"http://127.0.0.1:{port}",
            "timeout": 0.3,
            "deadline": 5.0,
            "max_retries": 1,
            "backoff_base": 0.01,
            "breaker_min_calls": 100,
        },
    )
    seen: list[str] = []
    try:
        async with open_runtime(
            settings, connectors=[BingConnector], metrics=Metrics(), store=EmbeddedStore(None)
        ) as rt:
            assert rt.registry.get("bing").mode == "live"
            await _exercise(rt, fake, seen, stall_s=0.6)  # the server must be able to stop
            assert fake.submissions and fake.submissions[0] == URLS
            _assert_clean(capture, rt, seen)
            assert any(line.startswith("httpcore2") for line in capture.lines)  # the wire's own DEBUG lines
    finally:
        server.should_exit = True
        await serving
