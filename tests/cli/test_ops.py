"""The operations harnesses: synthetic shows each resilience mechanism with its timing; soak
drives real loopback load; live-check finds each kind of misconfiguration and says what to fix;
the health grid. Over the real Shopify connector and fake, and generic connectors that fail."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2
import pytest
import typer
from pydantic import SecretStr
from typer.testing import CliRunner

from storelink.cli import ops
from storelink.cli.live_check import live_check
from storelink.cli.soak import percentile, run_soak, served_fakes
from storelink.cli.synthetic import RETRY_AFTER_S, SYNTHETIC_KNOBS, ConnectorRun, run_synthetic
from storelink.connectors.shopify.client import ShopifyConnector
from storelink.fakes.base import InProcessTransport
from storelink.fakes.shopify import DEFAULT_TOKEN, ShopifyFake
from tests.conftest import make_settings
from tests.web.helpers import CONNECTORS, World, forbidden_app, ops_settings


def cli() -> typer.Typer:
    app = typer.Typer()
    ops.register(app)
    return app


def phase(run: ConnectorRun, title: str) -> list[Any]:
    return next(p.events for p in run.phases if p.title == title)


async def test_synthetic_shows_retry_after_throttle_wait_and_a_breaker_cycle(tmp_path: Path) -> None:
    report = await run_synthetic(make_settings(tmp_path), [ShopifyConnector], virtual_time=True)
    (run,) = report.runs
    assert run.skipped is None

    retry_after = phase(run, "Retry-After")
    attempts = [e for e in retry_after if e.kind == "attempt"]
    assert [e.data["status"] for e in attempts] == [429, 200]
    assert attempts[0].data["retry_after"] == f"{RETRY_AFTER_S:g}"
    (wait,) = [e for e in retry_after if e.kind == "retry_wait"]
    assert wait.seconds == pytest.approx(RETRY_AFTER_S)
    assert attempts[1].at - attempts[0].at == pytest.approx(RETRY_AFTER_S, abs=0.01)

    backoff = [e for e in phase(run, "backoff") if e.kind == "retry_wait"]
    assert len(backoff) == 2
    for n, e in enumerate(backoff, 1):  # full jitter: uniform(0, base·2^(n-1))
        assert 0 <= e.seconds <= SYNTHETIC_KNOBS["backoff_base"] * 2 ** (n - 1)

    (held,) = [e for e in phase(run, "throttle wait") if e.kind == "limiter_wait"]
    assert held.seconds == pytest.approx(0.5, abs=0.1)  # the debt, refilled at Shopify's 100 points/s

    breaker = phase(run, "breaker")
    transitions = [(e.data["old"], e.data["new"], e.at) for e in breaker if e.kind == "breaker"]
    assert [(o, n) for o, n, _ in transitions] == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]
    assert transitions[1][2] - transitions[0][2] >= SYNTHETIC_KNOBS["breaker_open_s"]
    fast = [e for e in breaker if e.kind == "outcome" and e.data["kind"] == "circuit_open"]
    assert len(fast) == 1 and fast[0].seconds == 0

    m = run.metrics
    assert m["breaker_transitions"] == {"closed→open": 1, "open→half_open": 1, "half_open→closed": 1}
    assert m["retries"]["rate_limited"] == 1 and m["throttles"] == 1
    assert m["limiter_wait_s"] == pytest.approx(held.seconds, abs=0.01)


async def test_synthetic_runs_over_any_connector(tmp_path: Path) -> None:
    world = World()
    report = await run_synthetic(
        ops_settings(tmp_path), [CONNECTORS["alpha"]], virtual_time=True, fakes={"alpha": world.alpha}
    )
    run = report.runs[0]
    assert {e.data["new"] for e in run.events("breaker")} == {"open", "half_open", "closed"}
    assert any(e.kind == "limiter_wait" for e in run.events())


def test_synthetic_command_prints_the_timeline(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli(), ["synthetic", "shopify", "--virtual-time"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    out = result.output
    for text in (
        "attempt → 429 (Retry-After: 1.5 s)",
        "wait 1.500 s (the server's Retry-After)",
        "(full-jitter backoff)",
        "held by the local rate limiter",
        "breaker closed → open",
        "failed: circuit_open",
        "breaker open → half_open",
        "breaker half_open → closed",
        "metrics after the run",
    ):
        assert text in out, text


@pytest.mark.slow
async def test_soak_through_loopback_fakes(tmp_path: Path) -> None:
    ticks: list[int] = []
    result = await run_soak(
        make_settings(tmp_path),
        [ShopifyConnector],
        seconds=1.5,
        rps=20,
        progress=lambda elapsed, done, errors, in_flight: ticks.append(done),
    )
    assert result.offered == 30 and result.shed == 0
    total = result.total
    assert total.calls == 30 and total.errors == 0
    p50, p95, p99 = total.quantiles_ms()
    assert p50 is not None and p95 is not None and p99 is not None and 0 < p50 <= p95 <= p99
    assert result.pipeline["shopify"]["attempts"] == 30  # the cache is off: every call hit the wire
    assert result.fakes["shopify"].startswith("http://127.0.0.1:")
    assert result.rss_start_mb > 0 and result.rss_end_mb > 0
    assert ticks and ticks[-1] == 30


@pytest.mark.slow
async def test_soak_with_faults_retries(tmp_path: Path) -> None:
    result = await run_soak(
        make_settings(tmp_path), [ShopifyConnector], seconds=1.0, rps=20, faults="shopify:503=0.3,seed=7"
    )
    assert result.pipeline["shopify"]["retries"] > 0
    assert result.total.calls == 20


def test_percentile_is_nearest_rank() -> None:
    values = [float(i) for i in range(1, 101)]
    assert percentile(values, 0.5) == 50 and percentile(values, 0.95) == 95 and percentile(values, 0.99) == 99
    assert percentile([], 0.5) is None


@pytest.mark.slow
def test_soak_command_prints_its_table() -> None:
    result = CliRunner().invoke(cli(), ["soak", "--seconds", "1", "--rps", "10", "shopify"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    for text in ("storelink soak", "shop_info", "p95", "p99", "RSS", "MB at start", "calls/s completed"):
        assert text in result.output, text


async def test_live_check_generic_connectors(tmp_path: Path) -> None:
    world = World()
    transports: dict[str, httpx2.AsyncBaseTransport] = {
        "alpha": InProcessTransport(world.alpha.app),
        "unauth": InProcessTransport(world.unauth.app),
        "forbidden": InProcessTransport(forbidden_app()),
    }
    settings = ops_settings(tmp_path)
    reports = await live_check(
        settings, [CONNECTORS[n] for n in ("alpha", "unauth", "forbidden")], transports=transports
    )
    by = {r.connector: r for r in reports}
    assert by["alpha"].ready
    steps = {c.step: c for c in by["alpha"].checks}
    assert steps["cheap call"].result == "pass" and steps["scopes"].result == "info"

    unauth = {c.step: c for c in by["unauth"].checks}
    assert not by["unauth"].ready
    assert unauth["cheap call"].result == "fail"
    assert "unauthorized" in unauth["cheap call"].detail
    assert "GENERIC_TOKEN" in unauth["cheap call"].fix
    assert unauth["scopes"].result == "skip"

    forbidden = {c.step: c for c in by["forbidden"].checks}
    assert forbidden["cheap call"].result == "fail" and "scope or permission" in forbidden["cheap call"].fix

    disabled = ops_settings(tmp_path, alpha={"enabled": False})
    (off,) = await live_check(disabled, [CONNECTORS["alpha"]], transports=transports)
    assert [(c.step, c.result) for c in off.checks] == [("enabled", "fail")]
    assert "STORELINK_ALPHA_ENABLED=true" in off.checks[0].fix


async def test_live_check_shopify_without_credentials(tmp_path: Path) -> None:
    (report,) = await live_check(make_settings(tmp_path, mcp_force_mocks=True), [ShopifyConnector])
    steps = {c.step: c for c in report.checks}
    assert not report.ready
    assert steps["mode"].result == "warn"
    assert steps["credentials"].result == "fail"
    assert "SHOPIFY_SHOP" in steps["credentials"].detail
    assert "Develop apps" in steps["credentials"].fix
    assert "SHOPIFY_SHOP=unset" in steps["ids"].detail
    assert "SHOPIFY_ACCESS_TOKEN=unset" in steps["ids"].detail
    assert steps["cheap call"].result == "skip"


@pytest.mark.slow
async def test_live_check_shopify_against_a_loopback_upstream(tmp_path: Path) -> None:
    """Live mode as in production (real sockets, the credentials' own auth), with the fake as
    the upstream: the cheap call and every read operation's scope pass; a bad token fails."""
    async with served_fakes({"shopify": ShopifyFake()}) as urls:
        good = make_settings(
            tmp_path,
            shopify_shop="demo-performance.myshopify.com",
            shopify_access_token=DEFAULT_TOKEN,
            shopify={"base_url": urls["shopify"]},
        )
        (report,) = await live_check(good, [ShopifyConnector])
        assert report.ready, report.to_json()
        steps = {c.step: c for c in report.checks}
        assert steps["cheap call"].result == "pass"
        scope_steps = [c for c in report.checks if c.step.startswith("scope: ")]
        assert len(scope_steps) >= 5 and all(c.result == "pass" for c in scope_steps)
        assert not any("bulk" in c.step for c in scope_steps)
        assert "SHOPIFY_SHOP=demo-performance.myshopify.com" in steps["ids"].detail
        assert DEFAULT_TOKEN not in json.dumps(report.to_json())

        bad = good.model_copy(update={"shopify_access_token": SecretStr("shpat_wrong")})
        (refused,) = await live_check(bad, [ShopifyConnector])
        cheap = {c.step: c for c in refused.checks}["cheap call"]
        assert cheap.result == "fail" and "SHOPIFY_ACCESS_TOKEN" in cheap.fix


def test_live_check_command_exits_1_with_what_to_fix() -> None:
    result = CliRunner().invoke(cli(), ["live-check", "shopify"], env={"COLUMNS": "250"})
    assert result.exit_code == 1
    assert "not ready" in result.output and "SHOPIFY_SHOP" in result.output
    as_json = CliRunner().invoke(cli(), ["live-check", "shopify", "--json"])
    assert json.loads(as_json.stdout)[0]["ready"] is False


def test_health_grid(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli(), ["health", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["connector"]: r for r in json.loads(result.stdout)}
    row = rows["shopify"]
    assert row["mode"] == "mock" and row["status"] in ("ok", "degraded")
    assert row["headroom"]["unit"] == "points"
    assert all(r["mode"] == "mock" and r["missing"] for r in rows.values())
    grid = CliRunner().invoke(cli(), ["health"], env={"COLUMNS": "250"})
    assert grid.exit_code == 0 and "storelink health" in grid.output and "headroom" in grid.output


def test_unknown_connector_is_refused() -> None:
    result = CliRunner().invoke(cli(), ["synthetic", "nope"])
    assert result.exit_code == 2
    assert "Unknown connector" in result.output
