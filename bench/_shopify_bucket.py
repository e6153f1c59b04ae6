"""What the pacing benchmarks share: the Shopify fake served in a subprocess, waiting for a served
fake to answer, and the figures read off Shopify's bucket report (GET /_fake/bucket)."""

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


def serve_shopify_fake() -> tuple[subprocess.Popen[bytes], str]:
    """`storelink fakes serve shopify` on a free loopback port; returns the process and its URL."""
    server = subprocess.Popen(  # noqa: S603  (our own CLI)
        [sys.executable, "-m", "storelink.main", "fakes", "serve", "shopify", "--port-base", str(free_port())],
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


def bucket_figures(report: dict[str, Any], latencies: list[float], seconds: float) -> dict[str, float]:
    """Utilisation counts only what the refill supplied: consumed − what the initial full bucket gave."""
    counters = report["counters"]
    buckets = report["buckets"]
    maximum = float(report["maximumAvailable"])
    final = float(next(iter(buckets.values()))["currentlyAvailable"]) if buckets else maximum
    from_refill = counters["pointsConsumed"] - (maximum - final)
    lat = sorted(latencies) or [0.0]
    q = statistics.quantiles(lat, n=100) if len(lat) > 1 else [lat[0]] * 99
    return {
        "seconds": seconds,
        "points_consumed": counters["pointsConsumed"],
        "final_available": final,
        "utilisation": from_refill / (RESTORE * seconds),
        "throttled": counters["throttled"] / max(1, counters["requests"]),
        "requests": counters["requests"],
        "calls": len(latencies),
        "p50": q[49],
        "p95": q[94],
        "p99": q[98],
    }
