"""in_background: a task that lives exactly as long as its block."""

from __future__ import annotations

import asyncio

import pytest

from storelink.tasks import in_background


async def test_the_task_runs_during_the_block_and_is_gone_after() -> None:
    ticks: list[int] = []

    async def tick() -> None:
        while True:
            ticks.append(len(ticks))
            await asyncio.sleep(0)

    async with in_background(tick(), name="ticker") as task:
        await asyncio.sleep(0.01)
        assert ticks and not task.done()
    assert task.cancelled()
    seen = len(ticks)
    await asyncio.sleep(0.01)
    assert len(ticks) == seen


async def test_an_error_in_the_block_still_stops_the_task() -> None:
    started = asyncio.Event()

    async def wait_forever() -> None:
        started.set()
        await asyncio.Event().wait()

    async def fail_in_the_block() -> None:
        async with in_background(wait_forever(), name="waiter") as task:
            await started.wait()
            tasks.append(task)
            raise RuntimeError("boom")

    tasks: list[asyncio.Task[None]] = []
    with pytest.raises(RuntimeError):
        await fail_in_the_block()
    assert tasks[0].cancelled()
