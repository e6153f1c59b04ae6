"""One deadline per operation: every request of a paginated call draws on it (not a fresh
deadline per page), nested operations never extend it, and work outside the pipeline is cut off
just after it. Loop time is faked by looptime, so the durations asserted are exact."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from storelink.clock import FakeClock
from storelink.connectors.base import DEADLINE_GRACE_S, operation
from storelink.errors import ConnectorError, ErrorKind
from storelink.fakes.base import InProcessTransport
from storelink.fakes.faults import FaultPlan
from storelink.fakes.generic import GenericFake
from storelink.observability.metrics import Metrics
from storelink.resilience.deadline import Deadline, current_deadline, operation_deadline
from storelink.runtime import Runtime, open_runtime
from storelink.store import EmbeddedStore
from tests.support.generic_connector import GenericConnector, generic_settings

pytestmark = pytest.mark.looptime


class PagesParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pages: int
    seconds: float


class PagedGeneric(GenericConnector):
    """The generic connector with a paginated operation and one that works outside the pipeline."""

    @operation()
    async def slow_pages(self, params: PagesParams) -> dict[str, Any]:
        """``pages`` requests of ``seconds`` each."""
        for _ in range(params.pages):
            await self.http.request("GET", "/v1/slow", operation="slow", params={"seconds": params.seconds})
        return {"pages": params.pages}

    @operation()
    async def think(self, params: PagesParams) -> dict[str, Any]:
        """Sleeps, as heavy local work would take time, without any request."""
        await asyncio.sleep(params.seconds)
        return {}


@asynccontextmanager
async def paged_runtime(tmp_path: Path, **knobs: Any) -> AsyncIterator[Runtime]:
    async with open_runtime(
        generic_settings(tmp_path, **knobs),
        connectors=[PagedGeneric],
        transports={"generic": InProcessTransport(GenericFake(faults=FaultPlan()).app)},
        metrics=Metrics(),
        store=EmbeddedStore(None),
        random_source=lambda: 0.5,
    ) as rt:
        yield rt


def now() -> float:
    return asyncio.get_running_loop().time()


async def test_the_deadline_covers_every_page_not_each(tmp_path: Path) -> None:
    """Five pages of 2 s against a 5 s deadline: each page alone fits a per-request deadline (the
    old behaviour ran all five, 10 s), but the operation ends at 5 s."""
    async with paged_runtime(tmp_path, deadline=5.0, timeout=4.0) as rt:
        started = now()
        with pytest.raises(ConnectorError) as info:
            await rt.registry.get("generic").call("slow_pages", {"pages": 5, "seconds": 2.0})
        elapsed = now() - started
    assert elapsed == pytest.approx(5.0, abs=0.01)
    assert info.value.kind is ErrorKind.TIMEOUT
    assert "deadline passed" in info.value.message and "STORELINK_GENERIC_DEADLINE" in info.value.message


async def test_pages_within_the_deadline_all_run(tmp_path: Path) -> None:
    async with paged_runtime(tmp_path, deadline=5.0, timeout=4.0) as rt:
        envelope = await rt.registry.get("generic").call("slow_pages", {"pages": 4, "seconds": 1.0})
    assert envelope.data == {"pages": 4}


async def test_work_outside_the_pipeline_is_cut_off_after_the_grace(tmp_path: Path) -> None:
    async with paged_runtime(tmp_path, deadline=3.0) as rt:
        started = now()
        with pytest.raises(ConnectorError) as info:
            await rt.registry.get("generic").call("think", {"pages": 0, "seconds": 60.0})
        elapsed = now() - started
    assert elapsed == pytest.approx(3.0 + DEADLINE_GRACE_S, abs=0.01)
    assert info.value.kind is ErrorKind.TIMEOUT
    assert "3 s deadline" in info.value.message and "STORELINK_GENERIC_DEADLINE" in info.value.message


async def test_the_operation_deadline_is_not_left_behind(tmp_path: Path) -> None:
    async with paged_runtime(tmp_path, deadline=5.0) as rt:
        await rt.registry.get("generic").call("slow_pages", {"pages": 1, "seconds": 0.1})
    assert current_deadline() is None


def test_a_nested_operation_never_extends_its_callers_deadline() -> None:
    clock = FakeClock()
    outer = Deadline.after(clock, 5.0)
    with operation_deadline(outer) as bound:
        assert bound is outer
        with operation_deadline(Deadline.after(clock, 30.0)) as inner:
            assert inner is outer
        shorter = Deadline.after(clock, 1.0)
        with operation_deadline(shorter) as inner:
            assert inner is shorter and current_deadline() is shorter
        assert current_deadline() is outer
    assert current_deadline() is None


def test_earliest() -> None:
    clock = FakeClock()
    a, b = Deadline.after(clock, 1.0), Deadline.after(clock, 2.0)
    assert a.earliest(b) is a and b.earliest(a) is a and a.earliest(None) is a
