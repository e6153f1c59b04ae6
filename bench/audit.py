"""What the write audit log adds to one write, on the embedded SQLite store and on PostgreSQL.

A write is audited four times: the claim of its idempotency key (before anything is sent), its
attempt's row (before the request leaves), that row settled, and the call's outcome. This times
those four statements per write through the real trail (``AuditTrail`` over a SQLite file in WAL
mode, as ``serve`` keeps it, and over a pool to the PostgreSQL server), writes
alternating one by one between the backends so that the machine's noise hits both alike. Then the
same for whole writes through a connector (``WriteGuard`` over the generic fake in process),
against reads of the same fake, to set the audit's cost beside a call's.

    python bench/audit.py [--writes 2000] [--url postgresql://postgres@127.0.0.1:5432/storelink_test]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import psycopg
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.connectors.test_writes import WritingConnector
from tests.support.generic_connector import GenericSettings

from storelink.audit import AuditTrail, embedded_trail
from storelink.connectors.base import Connector
from storelink.connectors.http import bypass_cache
from storelink.database.audit import postgres_trail
from storelink.database.postgres import Database
from storelink.fakes.base import InProcessTransport
from storelink.fakes.generic import GenericFake
from storelink.observability.metrics import Metrics
from storelink.runtime import open_runtime
from storelink.store import EmbeddedStore


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


async def audit_one_write(trail: AuditTrail, key: str) -> None:
    """The four statements of one write that succeeds at its first attempt."""
    await trail.claim(key=key, connector="generic", operation="post", mode="mock", params_digest="d", summary="s")
    attempt = await trail.begin_attempt(key=key, connector="generic", operation="post")
    await trail.end_attempt(attempt, "ok", status=200)
    await trail.finish(key, "ok", result={"id": 1})


async def alternate(jobs: dict[str, Callable[[int], Awaitable[object]]], n: int) -> dict[str, list[float]]:
    """Run each job ``n`` times, one after another in turn, and time every run (µs)."""
    times: dict[str, list[float]] = {name: [] for name in jobs}
    for i in range(n):
        for name, job in jobs.items():
            started = time.perf_counter()
            await job(i)
            times[name].append((time.perf_counter() - started) * 1e6)
    return times


async def main(writes: int, url: str) -> None:
    schema = f"bench_audit_{uuid.uuid4().hex[:8]}"
    tag = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = embedded_trail(EmbeddedStore(Path(tmp) / "storelink.db"))
        database = Database(url, schema=schema)
        await database.open()
        try:
            postgres = postgres_trail(database)
            await database.ensure_migrated()
            statements = await alternate(
                {
                    "SQLite": lambda i: audit_one_write(sqlite, f"s-{tag}-{i:06d}"),
                    "PostgreSQL": lambda i: audit_one_write(postgres, f"p-{tag}-{i:06d}"),
                },
                writes,
            )
            whole = await whole_writes(Path(tmp), url, schema, writes // 2, tag)
        finally:
            await database.close()
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

    table = Table(title=f"The audit per write: {writes} writes per backend, alternating (µs)")
    for column in ("what", "backend", "p50", "p95", "p95 ÷ SQLite's"):
        table.add_column(column, justify="left" if column in ("what", "backend") else "right")
    for what, found in (("4 audit statements", statements), ("whole write, in-process upstream", whole)):
        base = p(found["SQLite"], 95) if "SQLite" in found else None
        for backend, values in found.items():
            ratio = f"{p(values, 95) / base:.2f}" if base else "-"
            table.add_row(what, backend, f"{p(values, 50):,.0f}", f"{p(values, 95):,.0f}", ratio)
    Console(width=120).print(table)


async def whole_writes(tmp: Path, url: str, schema: str, n: int, tag: str) -> dict[str, list[float]]:
    """Writes through the connector on each backend, and reads of the same fake (no audit)."""
    fake = GenericFake()
    base = GenericSettings.model_fields["generic"].default
    common = {"_env_file": None, "allow_writes": "generic.post", "generic": base}
    on_sqlite = GenericSettings(**common, data_dir=tmp / "a")
    on_postgres = GenericSettings(
        **common,
        data_dir=tmp / "b",
        database_url=url,
        database_schema=schema,
    )
    async with AsyncExitStack() as stack:
        connectors: dict[str, Connector] = {}
        for name, settings in (("SQLite", on_sqlite), ("PostgreSQL", on_postgres)):
            runtime = await stack.enter_async_context(
                open_runtime(
                    settings,
                    connectors=[WritingConnector],
                    transports={"generic": InProcessTransport(fake.app)},
                    metrics=Metrics(),
                    store=EmbeddedStore(tmp / f"{name}.db"),
                )
            )
            connectors[name] = runtime.registry.get("generic")
        reader = connectors["SQLite"]

        async def read(i: int) -> object:
            token = bypass_cache.set(True)  # a call to the upstream, as a write is
            try:
                return await reader.call("get_item", {"item_id": i % 25 + 1})
            finally:
                bypass_cache.reset(token)

        def write(backend: str) -> Callable[[int], Awaitable[object]]:
            key = f"w{backend[0]}-{tag}"
            return lambda i: connectors[backend].call("post", {"text": "x", "idempotency_key": f"{key}-{i:06d}"})

        return await alternate(
            {"read (no audit)": read, "SQLite": write("SQLite"), "PostgreSQL": write("PostgreSQL")}, n
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/storelink_test")
    args = parser.parse_args()
    asyncio.run(main(args.writes, args.url))
