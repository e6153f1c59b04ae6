"""The call's own deadline reaches GA4's pacing (issue 15): the pipeline hands the limiter the
deadline it holds, so a call that must wait for a turn under the server-error gate gives up when
*its* deadline passes, not STORELINK_GA4_DEADLINE after it began. Loop time is faked (looptime)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from storelink.connectors.ga4.client import Ga4Connector
from storelink.connectors.ga4.errors import Ga4QuotaHint
from storelink.errors import ConnectorError, ErrorKind
from storelink.fakes.ga4 import Ga4Fake
from storelink.resilience.deadline import Deadline, operation_deadline
from storelink.settings import Ga4Knobs
from tests.connectors.ga4.support import PROPERTY, google_runtime, live_settings

pytestmark = pytest.mark.looptime

SERVER_ERROR = Ga4QuotaHint(available=0, maximum=0, restore_per_s=0, server_error=True)
RUN_REPORT = f"POST /v1beta/properties/{PROPERTY}:runReport"


async def test_a_wait_for_a_turn_ends_at_the_calls_own_deadline(tmp_path: Path) -> None:
    fake = Ga4Fake(properties=[PROPERTY])
    settings = live_settings(tmp_path, ga4=Ga4Knobs(deadline=60.0))
    async with google_runtime(settings, [Ga4Connector], {"ga4": fake}) as rt:
        ga4 = rt.registry.get("ga4")
        assert isinstance(ga4, Ga4Connector)
        quota = ga4.quota
        for _ in range(7):  # three server errors left this hour: two attempts may be in flight ...
            await quota.settle(await quota.reserve(5), SERVER_ERROR)
        held = [await quota.reserve(5) for _ in range(2)]  # ... and two are
        started = rt.clock.now()
        # The caller has 2 s left (an enclosing operation's deadline), far less than the 60 s
        # STORELINK_GA4_DEADLINE: the wait for a turn must end with those 2 s.
        with operation_deadline(Deadline.after(rt.clock, 2.0)), pytest.raises(ConnectorError) as info:
            await ga4.call("run_report", {"metrics": "sessions", "days": 7})
        waited = rt.clock.now() - started
        for reservation in held:
            await quota.cancel(reservation)
    err = info.value
    assert waited == pytest.approx(2.0, abs=0.05)  # not the 60 s knob, nor the 1 s backstop after the deadline
    assert err.kind is ErrorKind.RATE_LIMITED
    assert err.upstream_code == "serverErrorsPerProjectPerHour"
    assert "waited its whole deadline for a turn" in err.message and "Nothing was sent" in err.message
    assert fake.stats.get(RUN_REPORT, 0) == 0


async def test_a_turn_that_comes_within_the_deadline_is_taken(tmp_path: Path) -> None:
    fake = Ga4Fake(properties=[PROPERTY])
    settings = live_settings(tmp_path, ga4=Ga4Knobs(deadline=60.0))
    async with google_runtime(settings, [Ga4Connector], {"ga4": fake}) as rt:
        ga4 = rt.registry.get("ga4")
        assert isinstance(ga4, Ga4Connector)
        quota = ga4.quota
        for _ in range(7):
            await quota.settle(await quota.reserve(5), SERVER_ERROR)
        held = [await quota.reserve(5) for _ in range(2)]

        async def one_returns() -> None:
            await asyncio.sleep(1.5)
            await quota.settle(held.pop(), None)

        started = rt.clock.now()
        returning = asyncio.create_task(one_returns())
        with operation_deadline(Deadline.after(rt.clock, 2.0)):
            envelope = await ga4.call("run_report", {"metrics": "sessions", "days": 7})
        await returning
        waited = rt.clock.now() - started
        await quota.cancel(held.pop())
    assert envelope.data.rows
    assert 1.5 <= waited < 2.0
    assert fake.stats[RUN_REPORT] == 1
