"""Several stores in one deployment, each pacing to its own shop's bucket (issue 16, item 5).

Three stores of one fleet (``open_fleet``: one process, one metrics registry, one cache), each
with 16 callers looping on ``list_products`` with ``limit`` drawn from 20..250, from a cold start,
each against its own Shopify fake on loopback (its own shop: an independent bucket, Standard plan
100 points/s, 2000 points). Three runs, in this order, in one process:

* ``solo``: store A alone, the baseline for A's latency;
* ``three``: A, B and C at once;
* ``three, C saturated``: the same while a second client of C's app (same token, same bucket)
  spends C's bucket as fast as Shopify lets it, unseen by storelink except through the reports.

Per store: THROTTLED answers storelink met (its metrics, the ``store`` label) in the first
``--cold`` seconds and in all; use of the restore rate (points the refill supplied and were
consumed ÷ restore × duration, from the fake; with the second client, both clients' points);
p50/p95 of calls; the cost-weighted fair share (callers × mean actual cost ÷ restore rate) and
p95 ÷ fair. Last line: A's p95 with C saturated against A's solo p95.

With ``--replicas 3`` each run has three fleets (three replicas in one process) sharing every
store's budget through Redis (``--redis-url``), the callers of each store dealt among them; the
THROTTLED counts add the replicas' up. Shopify's pacing is then ``RedisCostBucket``
(``connectors/shopify/shared_pacing.py``), one model for every replica.

    python bench/stores.py [--seconds 60] [--callers 16] [--cold 5] [--replicas 3]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
import uuid
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _shopify_bucket import bucket_figures, serve_shopify_fake
from shopify_mixed import GRAPHQL, LIMITS, TOKEN, p95
from storelink.connectors.shopify.queries import PRODUCTS
from storelink.errors import ConnectorError
from storelink.observability.metrics import Metrics
from storelink.runtime import open_fleet
from storelink.settings import Settings
from storelink.store import EmbeddedStore
from storelink.stores_file import parse_stores

STORES = ("a", "b", "c")


@dataclass(frozen=True)
class Figures:
    run: str
    store: str
    calls: int
    errors: dict[str, int]
    throttled_cold: int
    throttled: int
    utilisation: float
    p50_s: float
    p95_s: float
    fair_s: float

    @property
    def ratio(self) -> float:
        return self.p95_s / self.fair_s


async def saturate(url: str, stop: asyncio.Event) -> None:
    """Another client of the same app: sends the largest queries as fast as the bucket refills,
    waiting what Shopify's own report says after a THROTTLED."""
    async with httpx2.AsyncClient(base_url=url, timeout=30.0, headers={"X-Shopify-Access-Token": TOKEN}) as client:
        while not stop.is_set():
            body: dict[str, Any] = {"query": PRODUCTS, "variables": {"first": 250}}
            status = (await client.post(GRAPHQL, json=body)).json()["extensions"]["cost"]["throttleStatus"]
            short = 252 - float(status["currentlyAvailable"])
            if short > 0:
                await asyncio.sleep(short / float(status["restoreRate"]))


async def run(
    name: str,
    urls: dict[str, str],
    *,
    callers: int,
    seconds: float,
    cold_s: float,
    busy: str | None,
    replicas: int = 1,
    redis_url: str | None = None,
) -> list[Figures]:
    """One run of ``urls``' stores in one fleet (or ``replicas`` fleets sharing ``redis_url``, the
    callers dealt among them); ``busy``: the store a second client saturates."""
    async with httpx2.AsyncClient(timeout=30.0) as admin:
        before: dict[str, dict[str, Any]] = {}
        for store, url in urls.items():
            await admin.delete(f"{url}/_fake/bucket")  # full bucket, counters zero
            before[store] = (await admin.get(f"{url}/_fake/bucket")).json()
        with tempfile.TemporaryDirectory() as data_dir:
            shared: dict[str, Any] = (
                {"redis_url": redis_url, "redis_prefix": f"bench-stores-{uuid.uuid4().hex[:8]}:", "replicas": replicas}
                if redis_url
                else {}
            )
            settings = Settings(_env_file=None, data_dir=Path(data_dir), site={"warm_up": False}, **shared)
            document = {
                "stores": [
                    {
                        "id": store,
                        "shopify": {
                            "shop": f"{store}.myshopify.com",
                            "knobs": {"base_url": url, "deadline": 120.0, "max_in_flight": callers},
                        },
                    }
                    for store, url in urls.items()
                ]
            }
            stores = parse_stores(document, settings, base_dir=Path(data_dir))
            registries = [Metrics() for _ in range(replicas)]
            stop_saturating = asyncio.Event()
            async with AsyncExitStack() as stack:
                fleets = [
                    await stack.enter_async_context(
                        open_fleet(settings, stores=stores, store=EmbeddedStore(None), metrics=metrics)
                    )
                    for metrics in registries
                ]

                def throttles(store: str) -> float:
                    return sum(
                        m.for_store(store).counter_value("storelink_throttles", connector="shopify") for m in registries
                    )

                latencies: dict[str, list[float]] = {s: [] for s in urls}
                errors: dict[str, dict[str, int]] = {s: {} for s in urls}
                cold_throttles: dict[str, float] = {}
                started = time.monotonic()
                stop = started + seconds

                async def caller(store: str, n: int, rng: random.Random) -> None:
                    fleet = fleets[n % replicas]
                    connector = (await fleet.runtime(store)).registry.get("shopify")
                    while time.monotonic() < stop:
                        t0 = time.monotonic()
                        try:
                            await connector.call("list_products", {"limit": rng.randint(*LIMITS)})
                        except ConnectorError as err:
                            errors[store][err.kind.value] = errors[store].get(err.kind.value, 0) + 1
                            await asyncio.sleep(1.0)
                            continue
                        latencies[store].append(time.monotonic() - t0)

                async def note_cold_start() -> None:
                    await asyncio.sleep(cold_s)
                    for store in urls:
                        cold_throttles[store] = throttles(store)

                background = [asyncio.create_task(saturate(urls[busy], stop_saturating))] if busy else []
                rng = random.Random(7)
                await asyncio.gather(
                    note_cold_start(),
                    *(caller(store, n, random.Random(rng.random())) for store in urls for n in range(callers)),
                )
                elapsed = time.monotonic() - started
                stop_saturating.set()
                await asyncio.gather(*background)
                reports = {store: (await admin.get(f"{url}/_fake/bucket")).json() for store, url in urls.items()}
                throttled = {store: throttles(store) for store in urls}

    def mean_actual(store: str) -> float:
        counters, consumed_before = reports[store]["counters"], float(before[store]["counters"]["pointsConsumed"])
        return (counters["pointsConsumed"] - consumed_before) / max(1, counters["requests"] - counters["throttled"])

    # The saturated store's points are both clients': its callers' mean cost is the others' (same mix).
    quiet_mean = [mean_actual(s) for s in urls if s != busy]
    figures: list[Figures] = []
    for store in urls:
        report = reports[store]
        restore = float(report["restoreRate"])
        consumed_before = float(before[store]["counters"]["pointsConsumed"])
        bucket = bucket_figures(report, latencies[store], elapsed, restore=restore, consumed_before=consumed_before)
        cost = sum(quiet_mean) / len(quiet_mean) if store == busy else mean_actual(store)
        figures.append(
            Figures(
                run=name,
                store=store,
                calls=len(latencies[store]),
                errors=errors[store],
                throttled_cold=int(cold_throttles.get(store, 0)),
                throttled=int(throttled[store]),
                utilisation=bucket["utilisation"],
                p50_s=bucket["p50"],
                p95_s=p95(latencies[store]),
                fair_s=callers * cost / restore,
            )
        )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--callers", type=int, default=16)
    parser.add_argument("--cold", type=float, default=5.0, help="seconds counted as the cold start")
    parser.add_argument("--replicas", type=int, default=1, help="fleets sharing each store's budget through Redis")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0", help="Redis, when --replicas > 1")
    args = parser.parse_args()
    servers = {store: serve_shopify_fake("standard") for store in STORES}
    urls = {store: url for store, (_, url) in servers.items()}
    rows: list[Figures] = []
    try:
        for name, chosen, busy in (
            ("solo", ("a",), None),
            ("three", STORES, None),
            ("three, c saturated", STORES, "c"),
        ):
            found = asyncio.run(
                run(
                    name,
                    {s: urls[s] for s in chosen},
                    callers=args.callers,
                    seconds=args.seconds,
                    cold_s=args.cold,
                    busy=busy,
                    replicas=args.replicas,
                    redis_url=args.redis_url if args.replicas > 1 else None,
                )
            )
            rows += found
            for f in found:
                print(
                    f"{name} {f.store}: THROTTLED {f.throttled_cold}/{f.throttled}, use {f.utilisation:.1%}, "
                    f"p95÷fair {f.ratio:.2f}",
                    flush=True,
                )
    finally:
        for server, _ in servers.values():
            server.terminate()
            server.wait(timeout=10)

    table = Table(
        title=f"Three stores, {args.replicas} replica(s): {args.callers} callers each, limit {LIMITS[0]}..{LIMITS[1]}, "
        f"{args.seconds:.0f} s per run, cold start, Standard 100 pts/s / 2000"
    )
    for column in (
        "run",
        "store",
        "calls",
        "errors",
        "THROTTLED cold/all",
        "use of restore",
        "p50 s",
        "p95 s",
        "fair s",
        "p95 ÷ fair",
    ):
        table.add_column(column, justify="left" if column in ("run", "store", "errors") else "right")
    for f in rows:
        table.add_row(
            f.run,
            f.store + (" (saturated)" if f.run.endswith("saturated") and f.store == "c" else ""),
            str(f.calls),
            ", ".join(f"{k} {v}" for k, v in f.errors.items()) or "-",
            f"{f.throttled_cold}/{f.throttled}",
            f"{f.utilisation:.1%}",
            f"{f.p50_s:.1f}",
            f"{f.p95_s:.1f}",
            f"{f.fair_s:.1f}",
            f"{f.ratio:.2f}",
        )
    console = Console(width=160)
    console.print(table)
    solo = next(f for f in rows if f.run == "solo")
    quiet = next(f for f in rows if f.run == "three, c saturated" and f.store == "a")
    console.print(
        f"store a's p95 with c saturated ÷ its solo p95: {quiet.p95_s / solo.p95_s:.3f} "
        f"({quiet.p95_s:.1f} s vs {solo.p95_s:.1f} s; goal within 10 %)"
    )


if __name__ == "__main__":
    main()
