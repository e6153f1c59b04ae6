"""Several storelink replicas sharing one Shopify budget: through Redis, and each on its own.

Three storelink processes (``--replicas``), each with 16 concurrent callers (``--callers``), issue
the same product-list mix as ``bench/shopify_throttle.py`` (``first: 50``, cost 52, some filtered so
Shopify refunds part) against one Shopify fake on loopback (Standard plan: 100 points/s, bucket
2000; the bucket belongs to the app, so all replicas drain one bucket, as in production). Modes:

* ``redis``: the limiter is ``RedisBucketLimiter`` behind ``FallbackLimiter`` (issue 10): one
  bucket model in Redis, re-synchronised by every replica's responses.
* ``local``: what happens without Redis today: each replica has its own local bucket model of the
  whole budget (each re-synchronised by its own responses only).
* ``fallback``: Redis configured but unreachable: each replica paces to its 1/N share (the
  degraded mode). Shown for completeness; not part of the issue's goal.

Utilisation counts only what the refill could supply: (points consumed − what the initial full
bucket gave) ÷ (restore rate × duration). THROTTLED share is the fake's count over its requests.
Latency is per call (limiter wait included), over all replicas' calls.

    python bench/replicas.py [--seconds 60] [--replicas 3] [--callers 16] [--modes redis,local]
        [--redis-url redis://127.0.0.1:6379/0]

Redis must answer at ``--redis-url`` for the ``redis`` mode (keys go under a fresh prefix that is
deleted afterwards). The worker processes are this same file with ``--worker``.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import httpx2
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from storelink.connectors.shopify.client import ShopifyConnector  # noqa: E402
from storelink.connectors.shopify.queries import PRODUCTS, estimate_cost  # noqa: E402
from storelink.errors import ConnectorError  # noqa: E402
from storelink.resilience.limiter import RateLimiter  # noqa: E402
from storelink.resilience.shared import SharedState, shared_state  # noqa: E402
from storelink.runtime import open_runtime  # noqa: E402
from storelink.settings import Settings  # noqa: E402
from storelink.store import EmbeddedStore  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _shopify_bucket import RESTORE, bucket_figures, free_port, serve_shopify_fake  # noqa: E402

TOKEN = "shpat_demo_token"  # the fake's public demo credential
COST = estimate_cost(PRODUCTS, {"first": 50})
SEARCHES = [None, None, None, "status:active", "product_type:'Brake Pads'", "vendor:'Apex Racing'", "title:*turbo*"]
MODES = ("redis", "local", "fallback")
LABELS = {
    "redis": "shared through Redis",
    "local": "local limiters only",
    "fallback": "Redis down: 1/N share each",
}


class SharedShopify(ShopifyConnector):
    """The Shopify connector with its limiter taken from shared state (what runtime wiring will do)."""

    shared: ClassVar[SharedState | None] = None

    def make_limiter(self) -> RateLimiter:
        local = super().make_limiter()
        if self.shared is None:
            return local
        return self.shared.limiter_for(self.name, local, partition=self.credential_partition())


# -- a replica ------------------------------------------------------------------------------------
async def replica(args: argparse.Namespace) -> dict[str, Any]:
    redis_url = None if args.mode == "local" else args.redis_url
    settings = Settings(
        _env_file=None,
        data_dir=Path(tempfile.mkdtemp()),
        shopify_shop="apex-demo.myshopify.com",
        shopify_access_token=TOKEN,
        shopify={"base_url": args.url, "deadline": 120.0, "max_in_flight": args.callers},
        redis_url=redis_url,
        replicas=args.replicas,
    )
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    async with shared_state(settings, prefix=args.prefix) as shared:
        SharedShopify.shared = shared
        async with open_runtime(settings, connectors=[SharedShopify], store=EmbeddedStore(None)) as rt:
            connector = rt.registry.get("shopify")
            # Ready: wait for the driver's common start time (after every replica is up, so
            # slow process starts under load do not leave the bucket idle on the clock).
            print("ready", flush=True)
            start_at = float(await asyncio.to_thread(sys.stdin.readline))
            await asyncio.sleep(max(0.0, start_at - time.time()))
            stop = time.monotonic() + args.seconds

            async def one(rng: random.Random) -> None:
                while time.monotonic() < stop:
                    t0 = time.monotonic()
                    try:
                        await connector.call("list_products", {"limit": 50, "query": rng.choice(SEARCHES)})
                    except ConnectorError as err:
                        errors[err.kind.value] += 1
                    latencies.append(time.monotonic() - t0)

            await asyncio.gather(*(one(random.Random(args.seed * 1000 + i)) for i in range(args.callers)))
        status = shared.status().to_json() if shared is not None else None
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
    prefix = f"bench-replicas:{secrets.token_hex(4)}:"
    redis_url = args.redis_url if mode == "redis" else f"redis://127.0.0.1:{free_port()}/0"  # fallback: nobody there
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    workers = [
        subprocess.Popen(  # noqa: S603  (this file)
            [
                sys.executable,
                __file__,
                "--worker",
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
    httpx2.delete(f"{url}/_fake/bucket")  # a full bucket and fresh counters, right at the start
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
    run.report = httpx2.get(f"{url}/_fake/bucket").json()
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


def summarise(run: Run) -> dict[str, float]:
    return {**bucket_figures(run.report, run.latencies, run.seconds), "errors": sum(run.errors.values())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--callers", type=int, default=16, help="concurrent callers per replica")
    parser.add_argument("--modes", default="redis,local", help=f"comma-separated, of {', '.join(MODES)}")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    # worker-only arguments
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--prefix", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        print(json.dumps(asyncio.run(replica(args))))
        return

    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = set(modes) - set(MODES)
    if unknown:
        raise SystemExit(f"unknown mode(s): {', '.join(sorted(unknown))}")
    server, url = serve_shopify_fake()
    try:
        runs = [measure(mode, url, args) for mode in modes]
    finally:
        server.terminate()
        server.wait(timeout=10)

    fair = args.replicas * args.callers * COST / RESTORE
    table = Table(
        title=f"{args.replicas} replicas × {args.callers} callers on one Shopify bucket (100 pts/s, 2000), "
        f"cost {COST}, {args.seconds:.0f} s each; fair share {fair:.1f} s"
    )
    for column in ("limiter", "utilisation", "THROTTLED", "requests", "calls", "p50 s", "p95 s", "p99 s", "errors"):
        table.add_column(column, justify="left" if column == "limiter" else "right")
    figures: dict[str, Any] = {}
    for run in runs:
        s = summarise(run)
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
    Console(width=150).print(table)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
