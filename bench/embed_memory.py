"""Memory of site knowledge's first ingest: the demo site embedded, as `serve` warms up in mock mode.

onnxruntime's CPU arena keeps the largest allocation it ever made for the life of the process,
and attention memory grows with batch × length². Each configuration runs in its own process (peak
RSS is per process) and ingests the demo site from scratch:

- ``before``: the arena and per-shape memory plans on, batches of 32 texts whatever their length;
- ``now``: both off, batches of at most 32 texts and ``TOKENS_PER_BATCH`` padded tokens.

    python bench/embed_memory.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

SRC = Path(__file__).resolve().parents[1] / "src"
sys.path.insert(0, str(SRC))

CONFIGS = ("before", "now")


def status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def as_before() -> None:
    """Put the embedder back as it was: arena and memory plans on, no token budget per batch."""
    from storelink.rag import embed

    embed.TOKENS_PER_BATCH = 10**9
    original = embed.OnnxEmbedder.__init__

    def init(self: embed.OnnxEmbedder, files: embed.ModelFiles, *, threads: int = 2, batch_size: int = 32) -> None:
        original(self, files, threads=threads, batch_size=batch_size)
        ort = embed.import_onnxruntime()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session = ort.InferenceSession(str(files.model), options, providers=["CPUExecutionProvider"])

    embed.OnnxEmbedder.__init__ = init  # type: ignore[method-assign]


async def ingest_once(config: str) -> dict[str, float]:
    from storelink.observability.metrics import Metrics
    from storelink.runtime import open_runtime
    from storelink.settings import Settings
    from storelink.store import EmbeddedStore

    if config == "before":
        as_before()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        settings = Settings(_env_file=None, data_dir=data, mcp_force_mocks=True)
        async with open_runtime(settings, metrics=Metrics(), store=EmbeddedStore(data / "store.db")) as runtime:
            knowledge = await runtime.knowledge()
            opened = status_mb("VmRSS")
            started = time.perf_counter()
            report = await knowledge.ensure_ready()
            seconds = time.perf_counter() - started
            chunks = float(report.chunks_total) if report is not None else 0.0
            return {
                "opened_mb": opened,
                "peak_mb": status_mb("VmHWM"),
                "after_mb": status_mb("VmRSS"),
                "seconds": seconds,
                "chunks": chunks,
            }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--one", choices=CONFIGS, help=argparse.SUPPRESS)  # a child run
    args = parser.parse_args()
    if args.one:
        print(json.dumps(asyncio.run(ingest_once(args.one))))
        return
    results = {}
    for config in CONFIGS:
        child = subprocess.run(  # noqa: S603  (this script)
            [sys.executable, __file__, "--one", config], capture_output=True, text=True, check=True
        )
        results[config] = json.loads(child.stdout.strip().splitlines()[-1])
    table = Table(title="Demo-site ingest: memory of the embedding step (one process per row)")
    for column in ("config", "chunks", "RSS opened MB", "peak MB", "after MB", "seconds", "peak ÷ before"):
        table.add_column(column, justify="left" if column == "config" else "right")
    for config, r in results.items():
        table.add_row(
            config,
            f"{r['chunks']:.0f}",
            f"{r['opened_mb']:.0f}",
            f"{r['peak_mb']:.0f}",
            f"{r['after_mb']:.0f}",
            f"{r['seconds']:.1f}",
            f"{r['peak_mb'] / results['before']['peak_mb']:.2f}",
        )
    Console().print(table)


if __name__ == "__main__":
    main()
