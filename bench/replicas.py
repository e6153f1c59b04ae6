"""Several storelink replicas sharing one upstream budget: through Redis, and each on its own.

Three storelink processes (``--replicas``), each with 16 concurrent callers (``--callers``), call one
fake upstream on loopback whose quota belongs to the app or property, not to a replica:

* ``--upstream shopify`` (the default): the product-list mix of ``bench/shopify_throttle.py``
  (``first: 50``, cost 52, some filtered so Shopify refunds part) against one cost bucket (Standard
  plan: 100 points/s, bucket 2000). Figures: utilisation of the restore rate, THROTTLED share, p95.
* ``--upstream ga4``: ``runReport`` calls (each answered after ``--latency`` s, 1 s by default, as a
  real report takes) against one property (10 requests in flight, 10 server errors an hour), the
  connector's default knobs (5 requests/s per replica), cache off. ``--server-errors 0.05`` injects
  that share of 500s. Figures: the most requests the property had in flight, the most server errors
  it saw in an hour, what it refused, calls answered per second.

Modes (``--modes``):

* ``redis``: the runtime's shared state (issue 10): Shopify's bucket model in Redis, GA4's lease
  gate, both re-synchronised by every replica's responses.
* ``local``: no Redis: each replica paces as if it had the whole budget.
* ``fallback``: Redis configured but unreachable: each replica paces to its 1/N share (the degraded
  mode).

Shopify's utilisation counts only what the refill could supply: (points consumed − what the initial
full bucket gave) ÷ (restore rate × duration); THROTTLED share is the fake's count over its
requests. Latency is per call (limiter wait included), over all replicas' calls.

    python bench/replicas.py [--upstream shopify|ga4] [--seconds 60] [--replicas 3] [--callers 16]
        [--modes redis,local,fallback] [--redis-url redis://127.0.0.1:6379/0] [--server-errors 0.05]

Redis must answer at ``--redis-url`` for the ``redis`` mode (keys go under a fresh prefix that is
deleted afterwards). The worker processes (and the GA4 fake's server) are this same file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from storelink.connectors.base import Connector  # noqa: E402
from storelink.connectors.ga4.client import Ga4Connector  # noqa: E402
from storelink.connectors.shopify.client import ShopifyConnector  # noqa: E402
from storelink.connectors.shopify.queries import PRODUCTS, estimate_cost  # noqa: E402
from storelink.errors import ConnectorError  # noqa: E402
from storelink.fakes.google_auth import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_REFRESH_TOKEN  # noqa: E402
from storelink.runtime import open_runtime  # noqa: E402
from storelink.settings import Settings  # noqa: E402
from storelink.store import EmbeddedStore  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _shopify_bucket import RESTORE, bucket_figures, free_port, serve_shopify_fake, wait_until_answering  # noqa: E402

TOKEN = "shpat_demo_token"  # the fake's public demo credential
COST = estimate_cost(PRODUCTS, {"first": 50})
SEARCHES = [None, None, None, "status:active", "product_type:'Brake Pads'", "vendor:'Apex Racing'", "title:*turbo*"]
GA4_PROPERTY = "412345678"
GA4_METRICS = ["sessions", "totalUsers", "screenPageViews", "conversions", "totalRevenue"]
MODES = ("redis", "local", "fallback")
LABELS = {
    "redis": "shared through Redis",
    "local": "local limiters only",
    "fallback": "Redis down: 1/N share each",
}


# -- the upstreams ---------------------------------------------------------------------------------
def shopify_settings(args: argparse.Namespace, redis_url: str | None) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=Path(tempfile.mkdtemp()),
        shopify_shop="apex-demo.myshopify.com",
        shopify_access_token=TOKEN,
        shopify={"base_url": args.url, "deadline": 120.0, "max_in_flight": args.callers},
        redis_url=redis_url,
        redis_prefix=args.prefix,
        replicas=args.replicas,
    )


def ga4_settings(args: argparse.Namespace, redis_url: str | None) -> Settings:
    # Live mode pointed at the fake (API and token endpoint on one app), default knobs but the cache,
    # which would answer repeated reports without asking the property.
    return Settings(
        _env_file=None,
        data_dir=Path(tempfile.mkdtemp()),
        ga4_property_id=GA4_PROPERTY,
        google_client_id=DEMO_CLIENT_ID,
        google_client_secret=DEMO_CLIENT_SECRET,
        google_refresh_token=DEMO_REFRESH_TOKEN,
        google_token_url=f"{args.url}/token",
        ga4={"base_url": args.url, "cache_ttl": 0.0},
        redis_url=redis_url,
        redis_prefix=args.prefix,
        replicas=args.replicas,
    )


async def shopify_call(connector: Connector, rng: random.Random) -> None:
    await connector.call("list_products", {"limit": 50, "query": rng.choice(SEARCHES)})


async def ga4_call(connector: Connector, rng: random.Random) -> None:
    await connector.call("run_report", {"metrics": rng.choice(GA4_METRICS), "days": rng.randint(1, 365)})


@dataclass(frozen=True)
class Upstream:
    connector: type[Connector]
    settings: Callable[[argparse.Namespace, str | None], Settings]
    call: Callable[[Connector, random.Random], Awaitable[None]]
    report_path: str  # the fake's admin route: GET reports, DELETE starts afresh


UPSTREAMS = {
    "shopify": Upstream(ShopifyConnector, shopify_settings, shopify_call, "/_fake/bucket"),
    "ga4": Upstream(Ga4Connector, ga4_settings, ga4_call, "/_fake/quota"),
}


def serve_ga4_fake(args: argparse.Namespace) -> tuple[subprocess.Popen[bytes], str]:
    """This file with ``--serve-ga4`` on a free loopback port; returns the process and its URL."""
    port = free_port()
    server = subprocess.Popen(  # noqa: S603  (this file)
        [
            sys.executable,
            __file__,
            "--serve-ga4",
            f"--port={port}",
            f"--latency={args.latency}",
            f"--server-errors={args.server_errors}",
        ],
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    url = f"http://127.0.0.1:{port}"
    wait_until_answering(f"{url}/_fake/quota")
    return server, url


def run_ga4_fake(args: argparse.Namespace) -> None:
    import uvicorn

    from storelink.fakes.faults import Fault, FaultPlan
    from storelink.fakes.ga4 import Ga4Fake

    faults = FaultPlan(rates={Fault.SERVER_ERROR: args.server_errors}, seed=1) if args.server_errors else None
    fake = Ga4Fake(properties=[GA4_PROPERTY], latency_s=args.latency, faults=faults)
    uvicorn.run(fake.app, host="127.0.0.1", port=args.port, log_level="warning")


# -- a replica ------------------------------------------------------------------------------------
async def replica(args: argparse.Namespace) -> dict[str, Any]:
    upstream = UPSTREAMS[args.upstream]
    settings = upstream.settings(args, None if args.mode == "local" else args.redis_url)
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    async with open_runtime(settings, connectors=[upstream.connector], store=EmbeddedStore(None)) as rt:
        connector = rt.registry.get(upstream.connector.name)
        # Ready: wait for the driver's common start time (after every replica is up, so slow
        # process starts under load do not leave the budget idle on the clock).
        print("ready", flush=True)
        start_at = float(await asyncio.to_thread(sys.stdin.readline))
        await asyncio.sleep(max(0.0, start_at - time.time()))
        stop = time.monotonic() + args.seconds

        async def one(rng: random.Random) -> None:
            while time.monotonic() < stop:
                t0 = time.monotonic()
                try:
                    await upstream.call(connector, rng)
                except ConnectorError as err:
                    errors[err.kind.value] += 1
                    if err.retry_after_s:  # a refusal says when to come back; callers honour it
                        await asyncio.sleep(min(err.retry_after_s, max(0.0, stop - time.monotonic())))
                latencies.append(time.monotonic() - t0)

        await asyncio.gather(*(one(random.Random(args.seed * 1000 + i)) for i in range(args.callers)))
        status = rt.shared.status().to_json() if rt.shared is not None else None
    return {"latencies": latencies, "errors": dict(errors), "ended_at": time.time(), "shared": status}


# -- the driver -----------------------------------------------------------------------------------
@dataclass
class Run:
    mode: str
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    report: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    shared_states: list[str] = field(default_factory=list)


def measure(mode: str, url: str, args: argparse.Namespace) -> Run:
    run = Run(mode)
    upstream = UPSTREAMS[args.upstream]
    prefix = f"bench-replicas:{secrets.token_hex(4)}:"
    redis_url = args.redis_url if mode == "redis" else f"redis://127.0.0.1:{free_port()}/0"  # fallback: nobody there
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    workers = [
        subprocess.Popen(  # noqa: S603  (this file)
            [
                sys.executable,
                __file__,
                "--worker",
                f"--upstream={args.upstream}",
                f"--mode={mode}",
                f"--url={url}",
                f"--redis-url={redis_url}",
                f"--prefix={prefix}",
                f"--seconds={args.seconds}",
                f"--callers={args.callers}",
                f"--replicas={args.replicas}",
                f"--seed={i}",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        for i in range(args.replicas)
    ]
    for worker in workers:
        assert worker.stdout is not None
        if worker.stdout.readline().strip() != b"ready":
            raise SystemExit(f"a {mode} replica did not start")
    httpx2.delete(f"{url}{upstream.report_path}")  # a full budget and fresh counters, right at the start
    start_at = time.time() + 0.2
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write(f"{start_at}\n".encode())
        worker.stdin.flush()
    ended = start_at
    for worker in workers:
        out, _ = worker.communicate(timeout=args.seconds + 180)
        if worker.returncode != 0:
            raise SystemExit(f"a {mode} replica failed (exit {worker.returncode})")
        result = json.loads(out.decode().strip().splitlines()[-1])
        run.latencies.extend(result["latencies"])
        run.errors.update(result["errors"])
        ended = max(ended, float(result["ended_at"]))
        if result["shared"]:
            run.shared_states.append(result["shared"]["state"])
    run.seconds = ended - start_at
    run.report = httpx2.get(f"{url}{upstream.report_path}").json()
    if mode == "redis":
        _drop_prefix(args.redis_url, prefix)
    return run


def _drop_prefix(url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def _quantiles(latencies: list[float]) -> tuple[float, float]:
    lat = sorted(latencies) or [0.0]
    return lat[len(lat) // 2], lat[min(len(lat) - 1, int(len(lat) * 0.95))]


# -- the tables -----------------------------------------------------------------------------------
def shopify_table(runs: list[Run], args: argparse.Namespace) -> tuple[Table, dict[str, Any]]:
    fair = args.replicas * args.callers * COST / RESTORE
    table = Table(
        title=f"{args.replicas} replicas × {args.callers} callers on one Shopify bucket (100 pts/s, 2000), "
        f"cost {COST}, {args.seconds:.0f} s each; fair share {fair:.1f} s"
    )
    for column in ("limiter", "utilisation", "THROTTLED", "requests", "calls", "p50 s", "p95 s", "p99 s", "errors"):
        table.add_column(column, justify="left" if column == "limiter" else "right")
    figures: dict[str, Any] = {}
    for run in runs:
        s = {**bucket_figures(run.report, run.latencies, run.seconds), "errors": sum(run.errors.values())}
        figures[run.mode] = {**s, "errors_by_kind": dict(run.errors), "shared_states": run.shared_states}
        table.add_row(
            LABELS[run.mode],
            f"{s['utilisation']:.1%}",
            f"{s['throttled']:.2%}",
            f"{s['requests']:.0f}",
            f"{s['calls']:.0f}",
            f"{s['p50']:.2f}",
            f"{s['p95']:.2f}",
            f"{s['p99']:.2f}",
            f"{s['errors']:.0f}",
        )
    return table, figures


def ga4_table(runs: list[Run], args: argparse.Namespace) -> tuple[Table, dict[str, Any]]:
    faults = f", {args.server_errors:.0%} injected 500s" if args.server_errors else ""
    table = Table(
        title=f"{args.replicas} replicas × {args.callers} callers on one GA4 property (10 in flight, 10 server "
        f"errors an hour), reports of {args.latency:g} s{faults}, {args.seconds:.0f} s each"
    )
    columns = (
        "limiter",
        "peak in flight",
        "5xx in an hour",
        "refused by GA4",
        "answered",
        "per s",
        "p50 s",
        "p95 s",
        "errors",
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "limiter" else "right")
    figures: dict[str, Any] = {}
    for run in runs:
        report = run.report
        errors = sum(run.errors.values())
        answered = len(run.latencies) - errors
        p50, p95 = _quantiles(run.latencies)
        refused = sum(report["refused"].values())
        server_errors = max(report["max_server_errors_in_an_hour"].values(), default=0)
        figures[run.mode] = {
            **report,
            "answered": answered,
            "per_s": answered / max(run.seconds, 1e-9),
            "p50": p50,
            "p95": p95,
            "errors_by_kind": dict(run.errors),
            "shared_states": run.shared_states,
        }
        table.add_row(
            LABELS[run.mode],
            str(report["peak_in_flight"]),
            str(server_errors),
            f"{refused}" + (" (locked)" if "Exhausted server errors quota." in report["refused"] else ""),
            str(answered),
            f"{answered / max(run.seconds, 1e-9):.1f}",
            f"{p50:.2f}",
            f"{p95:.2f}",
            ", ".join(f"{n} {kind}" for kind, n in run.errors.most_common()) or "0",
        )
    return table, figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--upstream", choices=sorted(UPSTREAMS), default="shopify")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--callers", type=int, default=16, help="concurrent callers per replica")
    parser.add_argument("--modes", default="redis,local", help=f"comma-separated, of {', '.join(MODES)}")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--latency", type=float, default=1.0, help="GA4: seconds the fake takes per report")
    parser.add_argument("--server-errors", type=float, default=0.0, help="GA4: share of requests answered 500")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    # worker-only arguments
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve-ga4", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--prefix", default="storelink:", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.serve_ga4:
        run_ga4_fake(args)
        return
    if args.worker:
        print(json.dumps(asyncio.run(replica(args))))
        return

    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = set(modes) - set(MODES)
    if unknown:
        raise SystemExit(f"unknown mode(s): {', '.join(sorted(unknown))}")
    server, url = serve_shopify_fake() if args.upstream == "shopify" else serve_ga4_fake(args)
    try:
        runs = [measure(mode, url, args) for mode in modes]
    finally:
        server.terminate()
        server.wait(timeout=10)
    table, figures = (shopify_table if args.upstream == "shopify" else ga4_table)(runs, args)
    Console(width=160).print(table)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
