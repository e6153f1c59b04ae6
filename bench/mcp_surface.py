"""The MCP surface, as an agent meets it: bytes of ``tools/list`` and of each tool's default
answer (only the required arguments; compact JSON as the model reads it, and the whole result as
sent), in mock mode over the in-memory client. Goals: tools/list ≤ 40 kB, every default answer
≤ 16 kB (tests/mcp_server/test_surface.py holds them).

    python bench/mcp_surface.py [--no-site]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from storelink.mcp_server.surface import ANSWER_GOAL, TOOLS_LIST_GOAL, Surface, measure_surface
from storelink.settings import Settings


async def run(site: bool) -> Surface:
    os.environ.setdefault("STORELINK_DEMO_TODAY", "2026-11-24")  # the demo store as the tests see it
    os.environ["STORELINK_SITE_WARM_UP"] = "false"
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(_env_file=None, data_dir=Path(tmp), mcp_force_mocks=True)
        return await measure_surface(settings, site=site)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-site", action="store_true", help="Leave out search, fetch and site_answer.")
    args = parser.parse_args()
    logging.disable(logging.INFO)
    surface = asyncio.run(run(site=not args.no_site))
    table = Table("tool", "bytes", "wire", "within", "note or error", title="MCP surface (mock mode)")
    table.add_row(
        f"tools/list ({surface.tools} tools)",
        f"{surface.tools_list_bytes:,}",
        f"{surface.tools_list_bytes:,}",
        "yes" if surface.tools_list_bytes <= TOOLS_LIST_GOAL else "NO",
        f"goal ≤ {TOOLS_LIST_GOAL:,}",
    )
    for answer in surface.answers:
        within = "yes" if answer.bytes <= ANSWER_GOAL and answer.error is None else "NO"
        table.add_row(
            answer.tool, f"{answer.bytes:,}", f"{answer.wire:,}", within, (answer.error or answer.note or "")[:90]
        )
    largest = max(surface.answers, key=lambda a: a.bytes)
    Console().print(table)
    print(f"largest default answer: {largest.tool} {largest.bytes:,} bytes (goal ≤ {ANSWER_GOAL:,})")


if __name__ == "__main__":
    main()
