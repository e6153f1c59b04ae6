"""What the resilience pipeline adds to one call, against bare httpx2 over the same upstream.

Both clients call the same in-process ASGI upstream (the generic fake) through the same
transport class, interleaved batch by batch in one run so machine noise hits both alike.
The pipeline runs in full: metrics on, the SQLite cache on the miss path (every call a new URL,
so each is looked up, missed and stored), limiter, breaker, budget, deadline and classifier.
Calls alternate one by one (A, B, A, B…) so drift and neighbours' load hit both alike; the
figure is the median over rounds of each round's difference of medians.

    python bench/overhead.py [--calls 4000] [--rounds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx2
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.generic_connector import GenericConnector, generic_settings

from storelink.fakes.base import InProcessTransport
from storelink.fakes.generic import GenericFake
from storelink.observability.metrics import Metrics
from storelink.runtime import open_runtime
from storelink.store import EmbeddedStore

AUTH = {"Authorization": "Bearer generic-token"}


async def run(calls: int, rounds: int) -> list[tuple[list[float], list[float]]]:
    fake = GenericFake(items=5)
    bare = httpx2.AsyncClient(transport=InProcessTransport(fake.app), base_url="https://generic.example")
    with tempfile.TemporaryDirectory() as tmp:
        settings = generic_settings(Path(tmp), cache_ttl=300.0, rate_limit=1e9, rate_burst=1e9)
        store = EmbeddedStore.in_data_dir(Path(tmp))
        async with open_runtime(
            settings,
            connectors=[GenericConnector],
            transports={"generic": InProcessTransport(fake.app)},
            metrics=Metrics(),
            store=store,
        ) as rt:
            upstream = rt.registry.get("generic").http
            results: list[tuple[list[float], list[float]]] = []
            serial = 0
            for _ in range(20):  # warm both paths
                serial += 1
                await bare.get("/v1/items", params={"page": 1, "per_page": serial % 5 + 1}, headers=AUTH)
                await upstream.request("GET", "/v1/items", operation="list_items", params={"page": 1, "x": -serial})
            for _ in range(rounds):
                plain: list[float] = []
                piped: list[float] = []
                for _ in range(calls // rounds):
                    serial += 1
                    t0 = time.perf_counter()
                    response = await bare.get("/v1/items", params={"page": 1, "x": serial}, headers=AUTH)
                    response.json()
                    t1 = time.perf_counter()
                    result = await upstream.request(
                        "GET", "/v1/items", operation="list_items", params={"page": 1, "x": serial}
                    )
                    result.json()
                    t2 = time.perf_counter()
                    plain.append(t1 - t0)
                    piped.append(t2 - t1)
                results.append((plain, piped))
            misses = rt.metrics.counter_value("storelink_cache", result="miss")
            assert misses >= calls, "the pipeline path must miss the cache on every call"
    await bare.aclose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    results = asyncio.run(run(args.calls, args.rounds))
    plain = [t for p, _ in results for t in p]
    piped = [t for _, q in results for t in q]
    p50_plain, p50_piped = statistics.median(plain), statistics.median(piped)
    added_rounds = sorted((statistics.median(q) - statistics.median(p)) * 1e6 for p, q in results)
    p90_plain = statistics.quantiles(plain, n=10)[-1]
    p90_piped = statistics.quantiles(piped, n=10)[-1]
    table = Table(title=f"Pipeline overhead per call ({len(piped)} calls each, alternating)")
    table.add_column("client")
    table.add_column("median µs", justify="right")
    table.add_column("p90 µs", justify="right")
    table.add_row("bare httpx2 (baseline)", f"{p50_plain * 1e6:.1f}", f"{p90_plain * 1e6:.1f}")
    table.add_row("storelink pipeline", f"{p50_piped * 1e6:.1f}", f"{p90_piped * 1e6:.1f}")
    Console().print(table)
    added = statistics.median(added_rounds)
    print(
        f"added median: {added:.1f} µs per call (rounds: {added_rounds[0]:.0f}…{added_rounds[-1]:.0f} µs); "
        f"ratio {p50_piped / p50_plain:.2f}× (goal ≤ 60 µs)"
    )


if __name__ == "__main__":
    main()
