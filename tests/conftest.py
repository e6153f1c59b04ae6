"""Shared fixtures: settings that ignore the developer's environment, the generic fake and a
runtime wired to it. Pipeline tests run under ``looptime`` (fake loop time), so sleeps,
timeouts and backoff are exact and instant.

``STORELINK_TEST_NOW=2027-01-01T00:30:00+00:00`` runs the whole session with the system's wall clock
moved to that instant (and ticking on from it), through time-machine: CI runs the suite at a year
boundary, a leap day and a daylight-saving change, so nothing may depend on the day it runs.

``STORELINK_TEST_SHARD=1/2`` runs every second selected test, from the first (in collection order,
so each shard's tests run in the order they always do; dealt one by one, not by file, so the shards
take about as long: files differ tenfold in time). `make pytest` runs the tests that are not slow
as two shards side by side, one per core, then the slow ones alone; `make test-clocks` runs each
instant as two shards, two at a time."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from storelink.database.postgres import Database
from storelink.fakes.base import InProcessTransport
from storelink.fakes.faults import FaultPlan
from storelink.fakes.generic import GenericFake
from storelink.observability.metrics import Metrics
from storelink.runtime import Runtime, open_runtime
from storelink.settings import Settings
from storelink.store import EmbeddedStore
from tests.support.generic_connector import GenericConnector, generic_settings
from tests.support.postgres_server import SHARED_POSTGRES_URL, drop_schema, new_schema

CANARY = "shpat_CANARY_9f8e7d6c5b4a"
TEST_NOW = os.environ.get("STORELINK_TEST_NOW")
TEST_SHARD = os.environ.get("STORELINK_TEST_SHARD")


def pytest_configure(config: pytest.Config) -> None:
    if TEST_NOW:
        import time_machine

        traveller = time_machine.travel(dt.datetime.fromisoformat(TEST_NOW), tick=True)
        traveller.start()
        config.add_cleanup(traveller.stop)


def pytest_report_header(config: pytest.Config) -> str | None:
    return f"wall clock moved to {TEST_NOW} (STORELINK_TEST_NOW)" if TEST_NOW else None


@pytest.hookimpl(trylast=True)  # after -m has deselected: shards share out what runs
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not TEST_SHARD:
        return
    number, _, count = TEST_SHARD.partition("/")
    if not (number.isdigit() and count.isdigit() and 1 <= int(number) <= int(count)):
        raise pytest.UsageError(f"STORELINK_TEST_SHARD must be like 1/2, not {TEST_SHARD!r}")
    mine = [item for n, item in enumerate(items) if n % int(count) == int(number) - 1]
    config.hook.pytest_deselected(items=[item for n, item in enumerate(items) if n % int(count) != int(number) - 1])
    items[:] = mine


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's credentials or .env file."""
    for name in list(os.environ):
        if (
            name.startswith(("STORELINK_", "SHOPIFY_", "GA4_", "GSC_", "GOOGLE_", "BING_", "ZOHO_", "MCP_"))
            or name == "ENABLE_MCP"
        ):
            monkeypatch.delenv(name, raising=False)
    # No background ingest of the demo site in every server a test starts (tests of it turn it on).
    monkeypatch.setenv("STORELINK_SITE_WARM_UP", "false")
    # Mock mode's demo store follows the date; tests pin it, so their figures hold on any day.
    monkeypatch.setenv("STORELINK_DEMO_TODAY", "2026-11-24")
    # The per-user data and config directories (the data directory's default, the user's .env) are the
    # test's own, never the developer's home.
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.chdir(tmp_path)


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path / "data", **overrides)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def fake() -> GenericFake:
    return GenericFake(faults=FaultPlan())


@pytest.fixture
async def runtime(tmp_path: Path, fake: GenericFake) -> AsyncIterator[Runtime]:
    settings = generic_settings(tmp_path)
    async with open_runtime(
        settings,
        connectors=[GenericConnector],
        transports={"generic": InProcessTransport(fake.app)},
        metrics=Metrics(),
        store=EmbeddedStore(None),
        random_source=lambda: 0.5,
    ) as rt:
        yield rt


@asynccontextmanager
async def open_generic_runtime(tmp_path: Path, fake: GenericFake, **knobs: Any) -> AsyncIterator[Runtime]:
    async with open_runtime(
        generic_settings(tmp_path, **knobs),
        connectors=[GenericConnector],
        transports={"generic": InProcessTransport(fake.app)},
        metrics=Metrics(),
        store=EmbeddedStore(None),
        random_source=lambda: 0.5,
    ) as rt:
        yield rt


# -- PostgreSQL: a schema of the test's own on the shared server, dropped after ----------------------
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
