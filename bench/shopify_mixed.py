"""Pacing to Shopify's cost bucket with mixed query costs, from a cold start (issue 16, item 5).

N concurrent callers (default 16) each loop on ``list_products`` with ``limit`` drawn uniformly from
20..250 (requested cost 22..252), through the real ShopifyConnector and resilience pipeline, against
the Shopify fake served on loopback (its bucket is the independent judge), for a fixed time from a
cold start: a new runtime whose limiter knows only the knobs (Standard: 100 points/s, 2000 bucket).

A scenario is ``PLAN[@START]``: the fake's plan (``standard``, ``advanced``, ``plus`` or
``RATE/BUCKET``, e.g. ``50/1000``, the older Standard figures) and the bucket's level when the run
starts as a fraction of it (``@0.3``: another client of the same app has just used 70 %). Each
scenario runs once per seed with each limiter, every (scenario, limiter) cell at the same time
against its own fake (its own shop), so the comparison is in the same run: ``token-bucket`` is the
generic TokenBucketLimiter the connector used before, ``shopify`` is whatever
``connectors/shopify/pacing.py`` builds today.

Figures (from the fake's ``GET /_fake/bucket`` unless said otherwise)
    * THROTTLED: refused requests in the first ``--cold`` seconds / in the whole run.
    * utilisation: points the refill supplied and the run consumed ÷ (restore rate × duration);
      the bucket's level at the start is not counted as refill.
    * p50, p95: call latency seen by the caller (client side), all calls.
    * fair share: callers × mean actual cost per served request ÷ restore rate — how long one
      round of every caller takes when the bucket is shared perfectly (the cost-weighted form of
      shopify_throttle.py's callers × cost ÷ restore rate); p95 ÷ fair is the figure to watch.
    * p95 small / large: p95 latency of calls with limit ≤ 96 / ≥ 174.

``run_store`` is the unit a multi-store bench reuses: one store, one fake URL, one runtime.

    python bench/shopify_mixed.py [--seconds 30] [--callers 16] [--seeds 3]
        [--scenarios standard,standard@0.3,advanced,50/1000] [--limiter both|token-bucket|shopify]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from storelink.connectors.shopify.client import ShopifyConnector
from storelink.connectors.shopify.queries import PRODUCTS
from storelink.errors import ConnectorError
from storelink.resilience.limiter import RateLimiter, TokenBucketLimiter
from storelink.runtime import open_runtime
from storelink.settings import Settings
from storelink.store import EmbeddedStore

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _shopify_bucket import bucket_figures, plan_figures, serve_shopify_fake

TOKEN = "shpat_demo_token"
GRAPHQL = "/admin/api/2026-10/graphql.json"
LIMITS = (20, 250)
SMALL_MAX, LARGE_MIN = 96, 174  # the lower and upper thirds of 20..250
FILTERS = ["status:active", "product_type:'Brake Pads'", "vendor:'Apex Racing'", "title:*turbo*"]
LIMITERS = ("token-bucket", "shopify")


class TokenBucketShopify(ShopifyConnector):
    """The connector as it paced before issue 16 item 5: the generic Go-style token bucket."""

    def make_limiter(self) -> RateLimiter:
        return TokenBucketLimiter(
            rate=self.knobs.rate_limit, capacity=self.knobs.rate_burst, clock=self.clock, unit="points"
        )


@dataclass(frozen=True)
class StoreFigures:
    """One store's run, as the fake's bucket and the callers saw it."""

    limiter: str
    plan: str
    start: float
    seed: int
    seconds: float
    calls: int
    errors: dict[str, int]
    requests: int
    throttled: int
    throttled_cold: int
    utilisation: float
    fair_s: float
    p50_s: float
    p95_s: float
    p95_small_s: float
    p95_large_s: float

    @property
    def ratio(self) -> float:
        return self.p95_s / self.fair_s if self.fair_s > 0 else float("nan")


def p95(values: list[float]) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100)[94]


async def drain(admin: httpx2.AsyncClient, *, token: str, to_level: float) -> None:
    """Another client of the same app spends the bucket down to about ``to_level`` points."""
    headers = {"X-Shopify-Access-Token": token}
    while True:
        body: dict[str, Any] = {"query": PRODUCTS, "variables": {"first": 1}}
        status = (await admin.post(GRAPHQL, json=body, headers=headers)).json()["extensions"]["cost"]["throttleStatus"]
        excess = float(status["currentlyAvailable"]) - to_level
        if excess < 10:
            return
        first = int(min(250, excess - 2))
        await admin.post(GRAPHQL, json={"query": PRODUCTS, "variables": {"first": first}}, headers=headers)


async def run_store(
    url: str,
    *,
    limiter: str = "shopify",
    plan: str = "standard",
    callers: int = 16,
    seconds: float = 30.0,
    seed: int = 0,
    start: float = 1.0,
    filtered: float = 0.0,
    cold_s: float = 5.0,
    deadline_s: float = 120.0,
    breaker_slow_s: float | None = None,
    token: str = TOKEN,
) -> StoreFigures:
    """Reset the fake at ``url`` (bucket full, counters zero), let another client leave it at
    ``start`` × its size, then run ``callers`` cold through a new runtime for ``seconds``; the
    figures come from the fake's bucket report and the callers' clocks. ``filtered``: the share of
    calls with a search filter (fewer nodes, so Shopify refunds part of the requested cost).
    ``breaker_slow_s``: the breaker's slow-call threshold, the deadline when None. The pipeline
    times a call for the breaker with its limiter wait included, so at these loads (every call
    queues 10-45 s) the default 10 s would open the circuit on a healthy shop and hide the pacing;
    pass 10 to see it."""
    connector_type = TokenBucketShopify if limiter == "token-bucket" else ShopifyConnector
    rng = random.Random(seed)
    async with httpx2.AsyncClient(base_url=url, timeout=30.0) as admin:
        await admin.delete("/_fake/bucket")
        if start < 1.0:
            maximum = float((await admin.get("/_fake/bucket")).json()["maximumAvailable"])
            await drain(admin, token=token, to_level=start * maximum)
        before = (await admin.get("/_fake/bucket")).json()
        base_counters = before["counters"]
        base_samples = len(before["series"])
        initial = float(next(iter(before["buckets"].values()))["currentlyAvailable"]) if before["buckets"] else None

        calls: list[tuple[int, float]] = []  # (limit, latency) of calls that succeeded
        errors: dict[str, int] = {}  # failed calls by kind
        with tempfile.TemporaryDirectory() as data_dir:
            settings = Settings(
                _env_file=None,
                data_dir=Path(data_dir),
                shopify_shop="apex-demo.myshopify.com",
                shopify_access_token=token,
                shopify={
                    "base_url": url,
                    "deadline": deadline_s,
                    "max_in_flight": callers,
                    "breaker_slow_call_s": breaker_slow_s or deadline_s,
                },
            )
            async with open_runtime(settings, connectors=[connector_type], store=EmbeddedStore(None)) as rt:
                connector = rt.registry.get("shopify")
                started = time.monotonic()
                stop = started + seconds

                async def one(caller_rng: random.Random) -> None:
                    while time.monotonic() < stop:
                        limit = caller_rng.randint(*LIMITS)
                        search = caller_rng.choice(FILTERS) if caller_rng.random() < filtered else None
                        t0 = time.monotonic()
                        try:
                            await connector.call("list_products", {"limit": limit, "query": search})
                        except ConnectorError as err:
                            errors[err.kind.value] = errors.get(err.kind.value, 0) + 1
                            await asyncio.sleep(1.0)  # a caller that fails fast must not spin
                            continue
                        calls.append((limit, time.monotonic() - t0))

                await asyncio.gather(*(one(random.Random(rng.random())) for _ in range(callers)))
                elapsed = time.monotonic() - started
        report = (await admin.get("/_fake/bucket")).json()

    counters = report["counters"]
    restore = float(report["restoreRate"])
    consumed_before = float(base_counters["pointsConsumed"])
    figures = bucket_figures(
        report,
        [latency for _, latency in calls],
        elapsed,
        restore=restore,
        initial=initial,
        consumed_before=consumed_before,
    )
    samples = report["series"][base_samples:]
    t0 = samples[0]["t"] if samples else 0.0
    requests = counters["requests"] - base_counters["requests"]
    throttled = counters["throttled"] - base_counters["throttled"]
    served = max(1, requests - throttled)
    mean_actual = (counters["pointsConsumed"] - consumed_before) / served
    return StoreFigures(
        limiter=limiter,
        plan=plan,
        start=start,
        seed=seed,
        seconds=elapsed,
        calls=len(calls),
        errors=errors,
        requests=requests,
        throttled=throttled,
        throttled_cold=sum(1 for s in samples if s["charged"] == 0 and s["t"] - t0 <= cold_s),
        utilisation=figures["utilisation"],
        fair_s=callers * mean_actual / restore,
        p50_s=figures["p50"],
        p95_s=figures["p95"],
        p95_small_s=p95([lat for limit, lat in calls if limit <= SMALL_MAX]),
        p95_large_s=p95([lat for limit, lat in calls if limit >= LARGE_MIN]),
    )


def scenario(spec: str) -> tuple[str, float]:
    plan, _, start = spec.partition("@")
    return plan, float(start) if start else 1.0


def table_of(rows: list[StoreFigures], *, title: str) -> Table:
    table = Table(title=title)
    columns = (
        "plan (rate/bucket)",
        "start",
        "limiter",
        "seed",
        "THROTTLED cold/all",
        "util.",
        "p50 s",
        "p95 s",
        "fair s",
        "p95÷fair",
        "p95 small",
        "p95 large",
        "calls",
        "errors",
    )
    for column in columns:
        table.add_column(column, justify="left" if column in ("plan (rate/bucket)", "limiter") else "right")
    for r in rows:
        rate, bucket = plan_figures(r.plan)
        table.add_row(
            f"{r.plan} ({rate:g}/{bucket:g})",
            f"{r.start:.0%}",
            r.limiter,
            str(r.seed),
            f"{r.throttled_cold}/{r.throttled}",
            f"{r.utilisation:.1%}",
            f"{r.p50_s:.1f}",
            f"{r.p95_s:.1f}",
            f"{r.fair_s:.1f}",
            f"{r.ratio:.2f}",
            f"{r.p95_small_s:.1f}",
            f"{r.p95_large_s:.1f}",
            str(r.calls),
            ", ".join(f"{kind} {n}" for kind, n in sorted(r.errors.items())) or "0",
        )
    return table


def summary_of(rows: list[StoreFigures], *, title: str) -> Table:
    """Per scenario and limiter, the worst seed: most THROTTLED, lowest utilisation, highest p95÷fair."""
    table = Table(title=title)
    for column in (
        "plan",
        "start",
        "limiter",
        "runs",
        "THROTTLED cold (max)",
        "all (max)",
        "util. (min)",
        "p95÷fair (max)",
    ):
        table.add_column(column, justify="left" if column in ("plan", "limiter") else "right")
    groups: dict[tuple[str, float, str], list[StoreFigures]] = {}
    for r in rows:
        groups.setdefault((r.plan, r.start, r.limiter), []).append(r)
    for (plan, start, limiter), group in groups.items():
        table.add_row(
            plan,
            f"{start:.0%}",
            limiter,
            str(len(group)),
            str(max(r.throttled_cold for r in group)),
            str(max(r.throttled for r in group)),
            f"{min(r.utilisation for r in group):.1%}",
            f"{max(r.ratio for r in group):.2f}",
        )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--callers", type=int, default=16)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--scenarios", default="standard,standard@0.3,advanced,50/1000")
    parser.add_argument("--limiter", choices=("both", *LIMITERS), default="both")
    parser.add_argument("--filtered", type=float, default=0.0, help="share of calls with a search filter (refunds)")
    parser.add_argument("--cold", type=float, default=5.0, help="seconds counted as the cold start")
    parser.add_argument(
        "--breaker-slow-s", type=float, help="breaker slow-call threshold (default: the deadline; see run_store)"
    )
    args = parser.parse_args()

    scenarios = [scenario(s) for s in args.scenarios.split(",")]
    limiters = LIMITERS if args.limiter == "both" else (args.limiter,)
    cells = [(plan, start, limiter) for plan, start in scenarios for limiter in limiters]
    console = Console(width=200)
    rows: list[StoreFigures] = []
    # One fake per cell, all cells at once (each its own shop: independent buckets), seeds in turn.
    servers = [serve_shopify_fake(plan) for plan, _, _ in cells]
    try:
        for seed in range(args.seeds):

            async def one_seed(seed: int = seed) -> list[StoreFigures]:
                return await asyncio.gather(
                    *(
                        run_store(
                            url,
                            limiter=limiter,
                            plan=plan,
                            callers=args.callers,
                            seconds=args.seconds,
                            seed=seed,
                            start=start,
                            filtered=args.filtered,
                            cold_s=args.cold,
                            breaker_slow_s=args.breaker_slow_s,
                        )
                        for (plan, start, limiter), (_, url) in zip(cells, servers, strict=True)
                    )
                )

            for figures in asyncio.run(one_seed()):
                rows.append(figures)
                print(
                    f"{figures.plan}@{figures.start:g} {figures.limiter} seed {seed}: THROTTLED "
                    f"{figures.throttled_cold}/{figures.throttled}, util {figures.utilisation:.1%}, "
                    f"p95÷fair {figures.ratio:.2f}",
                    flush=True,
                )
    finally:
        for server, _ in servers:
            server.terminate()
            server.wait(timeout=10)

    title = (
        f"Shopify pacing, mixed costs: {args.callers} callers, limit {LIMITS[0]}..{LIMITS[1]}, "
        f"{args.filtered:.0%} filtered, {args.seconds:.0f} s per run, cold start (knobs: Standard 100/2000)"
    )
    console.print(table_of(rows, title=title))
    console.print(summary_of(rows, title="Worst seed per scenario"))


if __name__ == "__main__":
    main()
