"""FaultPlan: rates, scripts, the env spec grammar, and the admin route."""

from __future__ import annotations

import httpx2
import pytest

from storelink.errors import ConfigurationError
from storelink.fakes.base import InProcessTransport
from storelink.fakes.faults import Fault, FaultPlan, parse_fault_spec
from storelink.fakes.generic import GenericFake


def test_script_comes_first_then_rates_deterministically() -> None:
    plan = FaultPlan(rates={Fault.SERVER_ERROR: 0.5}, script=__import__("collections").deque([Fault.STALL]), seed=7)
    first = plan.next_fault()
    draws = [plan.next_fault() for _ in range(400)]
    again = FaultPlan(rates={Fault.SERVER_ERROR: 0.5}, seed=7)
    assert first is Fault.STALL
    assert draws == [again.next_fault() for _ in range(400)]
    share = draws.count(Fault.SERVER_ERROR) / len(draws)
    assert 0.4 < share < 0.6
    assert plan.injected["500"] == draws.count(Fault.SERVER_ERROR)


def test_spec_grammar() -> None:
    plans = parse_fault_spec("shopify:429=0.1,500=0.05,retry_after=2;ga4:seq=500|ok|stall,stall_s=9")
    assert plans["shopify"].rates == {Fault.RATE_LIMITED: 0.1, Fault.SERVER_ERROR: 0.05}
    assert plans["shopify"].retry_after_s == 2.0
    assert list(plans["ga4"].script) == [Fault.SERVER_ERROR, Fault.OK, Fault.STALL]
    assert plans["ga4"].stall_s == 9.0


@pytest.mark.parametrize("spec", ["shopify", "shopify:429", "x:teapot=0.1", "x:500=0.9,429=0.9"])
def test_bad_specs_say_what_is_wrong(spec: str) -> None:
    with pytest.raises(ConfigurationError):
        parse_fault_spec(spec)


async def test_admin_route_sets_the_plan_at_run_time() -> None:
    fake = GenericFake()
    async with httpx2.AsyncClient(transport=InProcessTransport(fake.app), base_url="https://g.example") as client:
        auth = {"Authorization": "Bearer generic-token"}
        assert (await client.get("/v1/items", headers=auth)).status_code == 200
        put = await client.put("/_fake/faults", json={"script": ["503"]})
        assert put.status_code == 200
        assert (await client.get("/v1/items", headers=auth)).status_code == 503
        assert (await client.get("/v1/items", headers=auth)).status_code == 200
        stats = (await client.get("/_fake/stats")).json()
        assert stats["requests"]["GET /v1/items"] == 3
        assert stats["faults"] == {"503": 1}
        bad = await client.put("/_fake/faults", json={"rates": {"teapot": 1}})
        assert bad.status_code == 400
