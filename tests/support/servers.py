"""Real processes on loopback for end-to-end tests: `storelink serve` and fakes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2

SRC = str(Path(__file__).resolve().parents[2] / "src")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _clean_env(extra: dict[str, str]) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("STORELINK_", "SHOPIFY_", "MCP_", "GOOGLE_"))}
    return {**keep, "PYTHONPATH": SRC, **extra}


@contextmanager
def storelink_serve(data_dir: Path, env: dict[str, str], *, port: int | None = None) -> Iterator[str]:
    """Run `storelink serve` in a subprocess; yield its base URL once /healthz answers."""
    port = port or free_port()
    process = subprocess.Popen(  # noqa: S603  (our own CLI)
        [sys.executable, "-m", "storelink.main", "serve", "--port", str(port)],
        # No background ingest of the demo site (minutes of CPU, and /readyz says "warming" meanwhile)
        # unless a test asks for it.
        env=_clean_env(
            {
                "STORELINK_DATA_DIR": str(data_dir),
                "STORELINK_LOG_LEVEL": "WARNING",
                "STORELINK_SITE_WARM_UP": "false",
                **env,
            }
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"storelink serve exited: {process.stderr.read().decode() if process.stderr else ''}"
                )
            try:
                if httpx2.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx2.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("storelink serve did not start in 30 s")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


@contextmanager
def serve_in_thread(app: Any, port: int) -> Iterator[str]:
    """Serve an ASGI app with uvicorn in a background thread (for fakes the test inspects)."""
    import threading

    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
