"""What many configured stores cost: start-up time and memory of the served app, and memory per
store once used.

Each configuration starts `storelink serve`'s app (``storelink.main.create_app``, its lifespan run
by Starlette's TestClient; site warm-up off, since it is the same for any number of stores) in a
fresh Python process, so each figure is that process's own. Baseline: one store (the environment),
in the same run. Then, in the 100-store process, K stores are used (``shop_info`` and
``sales_summary`` on each) and the RSS growth per store is reported.

    python bench/stores_scale.py [--stores 100] [--use 10]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _shopify_bucket import serve_shopify_fake  # noqa: E402  (beside this file)

CHILD = r"""
import asyncio, json, os, sys, time
t0 = time.perf_counter()
from pathlib import Path
from starlette.testclient import TestClient
from storelink.cli.soak import rss_mb
from storelink.main import create_app
from storelink.settings import load_settings
imported = time.perf_counter()
rss_imported = rss_mb()
settings = load_settings()
app = create_app(settings)
use = int(sys.argv[1])
with TestClient(app, base_url="http://127.0.0.1") as client:
    started = time.perf_counter()
    rss_started = rss_mb()
    fleet = app.state.fleet
    ids = fleet.ids()

    async def touch(store_id):
        runtime = await fleet.runtime(store_id)
        shopify = runtime.registry.get("shopify")
        await shopify.call("shop_info")
        await shopify.call("sales_summary", {"days": 7})

    per_store = None
    if use:
        before = rss_mb()
        for store_id in ids[1 : 1 + use]:  # the first store is open already (the pages show it)
            client.portal.call(touch, store_id)
        per_store = (rss_mb() - before) / use
    print(json.dumps({
        "stores": len(ids),
        "import_s": imported - t0,
        "start_s": started - imported,
        "rss_imported_mb": rss_imported,
        "rss_started_mb": rss_started,
        "opened": len(fleet.opened()),
        "per_active_store_mb": per_store,
    }))
"""


def stores_file(path: Path, count: int, shopify_url: str | None = None) -> Path:
    """``count`` stores, each with all five connectors listed; with ``shopify_url``, each with only
    Shopify, sent to that one loopback fake (no fake built in the process: storelink's own cost)."""
    lines = []
    for n in range(1, count + 1):
        if shopify_url is not None:
            lines += [
                "[[stores]]",
                f'id = "shop-{n:03d}"',
                "[stores.shopify]",
                f'knobs = {{ base_url = "{shopify_url}" }}',
                "",
            ]
            continue
        lines += [
            "[[stores]]",
            f'id = "shop-{n:03d}"',
            f'name = "Shop {n}"',
            "[stores.shopify]",
            f'shop = "shop-{n:03d}.myshopify.com"',
            "[stores.ga4]",
            f'property_id = "{400000000 + n}"',
            "[stores.gsc]",
            f'site_url = "sc-domain:shop-{n:03d}.example"',
            "[stores.bing]",
            "[stores.zoho]",
            "",
        ]
    path.write_text("\n".join(lines))
    return path


def run_child(env: dict[str, str], use: int) -> dict[str, float]:
    result = subprocess.run(  # noqa: S603  (this interpreter, a fixed script)
        [sys.executable, "-c", CHILD, str(use)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    figures: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stores", type=int, default=100)
    parser.add_argument("--use", type=int, default=10, help="Stores to use after start, for memory per store.")
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="storelink-scale-"))
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("STORELINK_", "SHOPIFY_", "GA4_", "GSC_", "GOOGLE_", "BING_", "ZOHO_", "MCP_"))
    }
    base.update(
        {
            "PYTHONPATH": str(ROOT / "src"),
            "STORELINK_DATA_DIR": str(data / "data"),
            "STORELINK_SITE_WARM_UP": "false",
            "STORELINK_DEMO_TODAY": "2026-11-20",
            "MCP_FORCE_MOCKS": "true",
        }
    )
    fake, url = serve_shopify_fake()
    try:
        runs = {
            "1 store (environment), baseline": run_child(base, 0),
            f"{args.stores} demo stores": run_child({**base, "STORELINK_DEMO_STORES": str(args.stores)}, args.use),
            f"{args.stores} stores from a stores file": run_child(
                {**base, "STORELINK_STORES_FILE": str(stores_file(data / "stores.toml", args.stores))}, 0
            ),
            f"{args.stores} stores, Shopify on one loopback fake": run_child(
                {**base, "STORELINK_STORES_FILE": str(stores_file(data / "wire.toml", args.stores, url))}, args.use
            ),
        }
    finally:
        fake.terminate()
    baseline = runs["1 store (environment), baseline"]
    table = Table(title="storelink serve's app: start-up with many stores (each row a fresh process)")
    for column in ("configuration", "stores", "opened", "start s", "× baseline", "RSS MB", "+MB vs baseline"):
        table.add_column(column, justify="right" if column != "configuration" else "left")
    for name, r in runs.items():
        table.add_row(
            name,
            f"{r['stores']:.0f}",
            f"{r['opened']:.0f}",
            f"{r['start_s']:.2f}",
            f"{r['start_s'] / baseline['start_s']:.2f}",
            f"{r['rss_started_mb']:.0f}",
            f"{r['rss_started_mb'] - baseline['rss_started_mb']:+.0f}",
        )
    console = Console(width=130)
    console.print(table)
    demo = runs[f"{args.stores} demo stores"]
    wire = runs[f"{args.stores} stores, Shopify on one loopback fake"]
    console.print(
        f"memory per active store, {args.use} stores used after start (shop_info + sales_summary):\n"
        f"  demo stores (all five connectors, each store's fakes and seeded data in the process): "
        f"{demo['per_active_store_mb']:.1f} MB\n"
        f"  Shopify over the wire (storelink's own cost: connector, pipeline, pool, metrics): "
        f"{wire['per_active_store_mb']:.1f} MB"
    )


if __name__ == "__main__":
    main()
