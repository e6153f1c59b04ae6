"""Pacing to Shopify's cost bucket: storelink against what people use today.

N concurrent callers (default 16) issue a mix of product list queries (``first: 50``, cost 52;
some filtered, so Shopify refunds part of it) for a fixed time against the Shopify fake served on
loopback (Standard plan: 100 points/s, bucket 2000), once through storelink and once through the
baseline: plain httpx2 with tenacity exponential backoff on THROTTLED/429 and no pacing.

Utilisation counts only what the refill could supply: (points consumed − what the initial full
bucket gave) ÷ (restore rate × duration). The fair-share ideal for latency is callers × query cost ÷
restore rate: the time a caller waits if the bucket is shared perfectly.

    python bench/shopify_throttle.py [--seconds 60] [--callers 16] [--plot docs/shopify-pacing.png]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
from rich.console import Console
from rich.table import Table
from tenacity import AsyncRetrying, retry_if_result, stop_after_attempt, wait_random_exponential

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from storelink.connectors.shopify.client import ShopifyConnector
from storelink.connectors.shopify.queries import PRODUCTS, estimate_cost
from storelink.errors import ConnectorError
from storelink.runtime import open_runtime
from storelink.settings import Settings
from storelink.store import EmbeddedStore

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _shopify_bucket import RESTORE, bucket_figures, serve_shopify_fake

TOKEN = "shpat_demo_token"
COST = estimate_cost(PRODUCTS, {"first": 50})
SEARCHES = [None, None, None, "status:active", "product_type:'Brake Pads'", "vendor:'Apex Racing'", "title:*turbo*"]


@dataclass
class Run:
    name: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    report: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


async def storelink_caller(url: str, callers: int, seconds: float, run: Run) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=Path(tempfile.mkdtemp()),
        shopify_shop="apex-demo.myshopify.com",
        shopify_access_token=TOKEN,
        shopify={"base_url": url, "deadline": 120.0, "max_in_flight": callers},
    )
    async with open_runtime(settings, connectors=[ShopifyConnector], store=EmbeddedStore(None)) as rt:
        connector = rt.registry.get("shopify")
        stop = time.monotonic() + seconds

        async def one(rng: random.Random) -> None:
            while time.monotonic() < stop:
                search = rng.choice(SEARCHES)
                t0 = time.monotonic()
                try:
                    await connector.call("list_products", {"limit": 50, "query": search})
                except ConnectorError:
                    run.errors += 1
                run.latencies.append(time.monotonic() - t0)

        await asyncio.gather(*(one(random.Random(i)) for i in range(callers)))


async def baseline_caller(url: str, callers: int, seconds: float, run: Run) -> None:
    """What people use today: httpx2 + tenacity, retry THROTTLED/429 with exponential backoff."""
    headers = {"X-Shopify-Access-Token": TOKEN}
    async with httpx2.AsyncClient(base_url=url, headers=headers, timeout=30.0) as client:
        stop = time.monotonic() + seconds

        def throttled(response: httpx2.Response) -> bool:
            if response.status_code == 429:
                return True
            errors = response.json().get("errors") or []
            return any((e.get("extensions") or {}).get("code") == "THROTTLED" for e in errors)

        async def one(rng: random.Random) -> None:
            while time.monotonic() < stop:
                body = {"query": PRODUCTS, "variables": {"first": 50, "query": rng.choice(SEARCHES)}}
                t0 = time.monotonic()

                async def send(body: dict[str, Any] = body) -> httpx2.Response:
                    return await client.post("/admin/api/2026-10/graphql.json", json=body)

                retrying = AsyncRetrying(
                    stop=stop_after_attempt(8),
                    wait=wait_random_exponential(multiplier=0.5, max=20),
                    retry=retry_if_result(throttled),
                    retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
                )
                response = await retrying(send)
                if response is None or throttled(response):
                    run.errors += 1
                run.latencies.append(time.monotonic() - t0)

        await asyncio.gather(*(one(random.Random(i)) for i in range(callers)))


async def measure(name: str, url: str, callers: int, seconds: float) -> Run:
    run = Run(name)
    async with httpx2.AsyncClient(base_url=url) as admin:
        await admin.delete("/_fake/bucket")  # a full bucket and fresh counters
        started = time.monotonic()
        caller = storelink_caller if name == "storelink" else baseline_caller
        await caller(url, callers, seconds, run)
        run.seconds = time.monotonic() - started
        run.report = (await admin.get("/_fake/bucket")).json()
    return run


def summarise(run: Run) -> dict[str, float]:
    return {**bucket_figures(run.report, run.latencies, run.seconds), "errors": run.errors}


def plot(runs: list[Run], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    for run in runs:
        series = run.report["series"]
        if not series:
            continue
        t0 = series[0]["t"]
        ts = [s["t"] - t0 for s in series]
        axes[0].plot(ts, [s["available"] for s in series], label=run.name, linewidth=1)
        bins: dict[int, float] = {}
        for s in series:
            bins[int(s["t"] - t0)] = bins.get(int(s["t"] - t0), 0.0) + s["charged"]
        seconds = sorted(bins)
        axes[1].plot(seconds, [bins[s] for s in seconds], label=run.name, linewidth=1)
    axes[0].set_ylabel("bucket level (points)")
    axes[1].set_ylabel("points consumed per second")
    axes[1].axhline(RESTORE, color="grey", linestyle="--", linewidth=0.8, label="restore rate")
    axes[1].set_xlabel("seconds")
    for ax in axes:
        ax.legend(loc="upper right")
    fig.suptitle("Shopify cost bucket: storelink pacing vs tenacity backoff (16 callers, cost 52)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--callers", type=int, default=16)
    parser.add_argument("--plot", metavar="FILE.png")
    args = parser.parse_args()

    server, url = serve_shopify_fake()
    try:
        runs = [asyncio.run(measure(name, url, args.callers, args.seconds)) for name in ("baseline", "storelink")]
    finally:
        server.terminate()
        server.wait(timeout=10)

    fair = args.callers * COST / RESTORE
    table = Table(
        title=f"Shopify pacing: {args.callers} callers, cost {COST}, {args.seconds:.0f} s each, fair share {fair:.1f} s"
    )
    for column in ("client", "utilisation", "THROTTLED", "calls", "p50 s", "p95 s", "p99 s", "p95 ÷ fair", "errors"):
        table.add_column(column, justify="left" if column == "client" else "right")
    for run in runs:
        s = summarise(run)
        table.add_row(
            "baseline (tenacity)" if run.name == "baseline" else "storelink",
            f"{s['utilisation']:.1%}",
            f"{s['throttled']:.1%}",
            f"{s['calls']:.0f}",
            f"{s['p50']:.2f}",
            f"{s['p95']:.2f}",
            f"{s['p99']:.2f}",
            f"{s['p95'] / fair:.2f}",
            f"{s['errors']:.0f}",
        )
    Console(width=140).print(table)
    if args.plot:
        plot(runs, args.plot)
        print(f"plot written to {args.plot}")


if __name__ == "__main__":
    main()
