"""The heaviest calls an agent can make, against a real `storelink serve` in mock mode.

Issue 14 found that one Search Console call (486 days, five dimensions, 5,000,000 rows) ran 108 s
against a 30 s deadline, took the server from 162 MB to 1.9 GB and left /healthz unanswered for
60 s. This runs that call (at the largest row_limit a call may now ask) over MCP while a prober
asks /healthz every 100 ms and the server's RSS is sampled, and reports against a baseline taken in
the same run: /healthz on the idle server. Also: the same call as the issue wrote it (refused before
any request), and Shopify's largest order listing.

    python bench/heavy_call.py [--deadline 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import TextContent
from rich.console import Console
from rich.markup import escape
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.servers import storelink_serve  # noqa: E402  (one way to run a real server)

ISSUE_QUERY = {"days": 486, "dimensions": ["query", "page", "country", "device", "date"]}


@dataclass
class Probe:
    """/healthz latencies and the server's resident memory, sampled while something runs."""

    latencies: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)

    def p50(self) -> float:
        return statistics.median(self.latencies)

    def worst(self) -> float:
        return max(self.latencies)


def server_pid() -> int:
    """The one child this process started: `storelink serve`."""
    me = os.getpid()
    children = Path(f"/proc/{me}/task/{me}/children").read_text().split()
    if len(children) != 1:
        raise RuntimeError(f"expected one child process (storelink serve), found {children}")
    return int(children[0])


def rss_mb(pid: int, field_name: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field_name} not in /proc/{pid}/status")


async def probe_while(url: str, pid: int, work: asyncio.Future[Any] | None, seconds: float = 3.0) -> Probe:
    """Ask /healthz every 100 ms until `work` is done (or for `seconds` when there is none).

    Each probe waits for its answer before the next, so a stalled server shows as one long latency.
    """
    probe = Probe()
    async with httpx2.AsyncClient(timeout=120.0) as http:
        stop_at = time.monotonic() + seconds
        while (work is not None and not work.done()) or (work is None and time.monotonic() < stop_at):
            started = time.perf_counter()
            response = await http.get(f"{url}/healthz")
            response.raise_for_status()
            probe.latencies.append(time.perf_counter() - started)
            probe.rss_mb.append(rss_mb(pid))
            await asyncio.sleep(0.1)
    return probe


async def call_tool(url: str, name: str, arguments: dict[str, Any]) -> tuple[float, str]:
    """Call one tool over streamable HTTP; its wall time and a one-line outcome."""
    async with (
        httpx2.AsyncClient(timeout=300.0) as http,
        Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client,
    ):
        started = time.perf_counter()
        result = await client.call_tool(name, arguments)
        elapsed = time.perf_counter() - started
    if result.is_error:
        text = result.content[0].text if result.content and hasattr(result.content[0], "text") else "error"
        return elapsed, escape(text.split(":")[0][:60])
    block = result.content[0] if result.content else None
    data = json.loads(block.text).get("data", {}) if isinstance(block, TextContent) else {}  # the answer is JSON text
    rows = data.get("rows", data.get("items", []))
    notes = [k for k in ("truncated", "next_start_row", "next_cursor") if data.get(k) not in (None, False)]
    return elapsed, f"{len(rows):,} rows" + (" (truncated)" if notes else "")


async def measure(url: str, name: str, arguments: dict[str, Any]) -> tuple[float, str, Probe]:
    pid = server_pid()
    work = asyncio.ensure_future(call_tool(url, name, arguments))
    probe = await probe_while(url, pid, work)
    elapsed, outcome = await work
    return elapsed, outcome, probe


async def main(deadline: float) -> None:
    console = Console()
    env = {
        "MCP_FORCE_MOCKS": "true",
        "STORELINK_SITE_WARM_UP": os.environ.get("STORELINK_SITE_WARM_UP", "true"),
        "STORELINK_GSC_DEADLINE": str(deadline),
        "STORELINK_SHOPIFY_DEADLINE": str(deadline),
    }
    with tempfile.TemporaryDirectory() as data_dir, storelink_serve(Path(data_dir), env) as url:
        pid = server_pid()
        idle = await probe_while(url, pid, None)
        started_mb = rss_mb(pid)
        runs: list[tuple[str, str, dict[str, Any]]] = [
            ("gsc, 486 days × 5 dims, row_limit 25,000", "gsc_search_analytics", {**ISSUE_QUERY, "row_limit": 25_000}),
            ("gsc, as the issue asked (5,000,000)", "gsc_search_analytics", {**ISSUE_QUERY, "row_limit": 5_000_000}),
            ("shopify_list_orders, limit 250", "shopify_list_orders", {"limit": 250}),
        ]
        table = Table(title=f"Heavy calls against storelink serve (mock mode, deadline {deadline:g} s)")
        for column in ("call", "wall s", "outcome", "/healthz p50 ms", "/healthz worst ms", "worst ÷ idle p50"):
            table.add_column(column, justify="left" if column in ("call", "outcome") else "right")
        table.add_row("idle server (baseline)", "", "", f"{idle.p50() * 1e3:.0f}", f"{idle.worst() * 1e3:.0f}", "1.0")
        for label, tool, arguments in runs:
            elapsed, outcome, probe = await measure(url, tool, arguments)
            table.add_row(
                label,
                f"{elapsed:.1f}",
                outcome,
                f"{probe.p50() * 1e3:.0f}",
                f"{probe.worst() * 1e3:.0f}",
                f"{probe.worst() / idle.p50():.0f}",
            )
        console.print(table)
        console.print(
            f"server RSS: {started_mb:.0f} MB at start, {rss_mb(pid, 'VmHWM'):.0f} MB peak (VmHWM), "
            f"{rss_mb(pid):.0f} MB after the calls"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deadline", type=float, default=30.0, help="STORELINK_GSC_DEADLINE and _SHOPIFY_ (s)")
    asyncio.run(main(parser.parse_args().deadline))
