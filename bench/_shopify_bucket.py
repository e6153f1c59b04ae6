"""What the pacing benchmarks share: the Shopify fake served in a subprocess, waiting for a served
fake to answer, and the figures read off Shopify's bucket report (GET /_fake/bucket).

``serve_shopify_fake()`` serves the fake as ``storelink fakes serve`` does (Standard plan);
``serve_shopify_fake(plan="advanced")`` or ``plan="50/1000"`` (restore rate/bucket size) runs this
file as ``python bench/_shopify_bucket.py serve PLAN PORT``, a fake on that plan."""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx2

SRC = Path(__file__).resolve().parents[1] / "src"
RESTORE = 100.0  # the Standard plan's restore rate, points per second


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def plan_figures(plan: str) -> tuple[float, float]:
    """``(restore rate, bucket size)`` of a plan name (the fake's ``PLANS``, bucket 20 × rate) or of
    ``"RATE/BUCKET"``."""
    if "/" in plan:
        rate, bucket = plan.split("/", 1)
        return float(rate), float(bucket)
    sys.path.insert(0, str(SRC))
    from storelink.fakes.shopify.cost import PLANS

    return PLANS[plan][0], 20 * PLANS[plan][0]


def serve_shopify_fake(plan: str | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """The Shopify fake on a free loopback port; returns the process and its URL. Without ``plan``:
    `storelink fakes serve shopify` (Standard); with one, this file's ``serve`` on that plan."""
    port = str(free_port())
    if plan is None:
        command = [sys.executable, "-m", "storelink.main", "fakes", "serve", "shopify", "--port-base", port]
    else:
        command = [sys.executable, str(Path(__file__).resolve()), "serve", plan, port]
    server = subprocess.Popen(  # noqa: S603  (our own CLI)
        command,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(SRC)},
    )
    assert server.stdout is not None
    url = server.stdout.readline().decode().split("\t")[1].strip()
    wait_until_answering(f"{url}/_fake/stats")
    return server, url


def wait_until_answering(url: str, *, within_s: float = 20.0) -> None:
    """Poll ``url`` until a served fake answers (or ``within_s`` passes)."""
    for _ in range(int(within_s / 0.1)):
        try:
            httpx2.get(url, timeout=1.0)
            return
        except httpx2.HTTPError:
            time.sleep(0.1)


def bucket_figures(
    report: dict[str, Any],
    latencies: list[float],
    seconds: float,
    *,
    restore: float = RESTORE,
    initial: float | None = None,
    consumed_before: float = 0.0,
) -> dict[str, float]:
    """Utilisation counts only what the refill supplied: consumed − what the initial bucket gave
    (``initial``: its level at the start, full when None; ``consumed_before``: points another client
    consumed before the run, left out)."""
    counters = report["counters"]
    buckets = report["buckets"]
    maximum = float(report["maximumAvailable"])
    start = maximum if initial is None else initial
    final = float(next(iter(buckets.values()))["currentlyAvailable"]) if buckets else maximum
    from_refill = counters["pointsConsumed"] - consumed_before - (start - final)
    lat = sorted(latencies) or [0.0]
    q = statistics.quantiles(lat, n=100) if len(lat) > 1 else [lat[0]] * 99
    return {
        "seconds": seconds,
        "points_consumed": counters["pointsConsumed"],
        "final_available": final,
        "utilisation": from_refill / (restore * seconds),
        "throttled": counters["throttled"] / max(1, counters["requests"]),
        "requests": counters["requests"],
        "calls": len(latencies),
        "p50": q[49],
        "p95": q[94],
        "p99": q[98],
    }


def _serve(plan: str, port: int) -> None:
    """Serve the Shopify fake on ``plan`` at ``127.0.0.1:port``; print ``shopify\tURL`` first, as the
    CLI does."""
    import uvicorn

    from storelink.fakes.shopify import ShopifyFake

    rate, bucket = plan_figures(plan)
    named = plan if "/" not in plan else "standard"
    fake = ShopifyFake(plan=named, restore_rate=rate, bucket_size=bucket)
    print(f"shopify\thttp://127.0.0.1:{port}", flush=True)
    uvicorn.run(fake.app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "serve":
        _serve(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit("usage: python bench/_shopify_bucket.py serve PLAN PORT  (PLAN: standard|advanced|plus|RATE/BUCKET)")
