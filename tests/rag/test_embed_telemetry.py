"""Nothing outside the data dir (issue 14, finding 9): onnxruntime's telemetry stays off.

onnxruntime's official Linux wheels (1.32 here) start a 1DS telemetry client as the module is
imported: it writes a device id and an event database to
``$XDG_CACHE_HOME or ~/.cache/Microsoft/DeveloperTools/.onnxruntime``. The embedder must import it
with telemetry off. The import is once per process, so the check runs in a fresh interpreter with
HOME pointed at a temporary directory.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from storelink.rag.embed import ModelUnavailable, locate_model

_LOAD = """
from storelink.rag.embed import load_embedder
vectors = load_embedder(threads=1).embed(["brake pads for a 2019 Civic"])
assert vectors.shape == (1, 384)
"""


@pytest.mark.slow
def test_loading_the_embedder_writes_nothing_outside_the_data_dir(tmp_path: Path) -> None:
    try:
        locate_model()
    except ModelUnavailable as exc:
        pytest.skip(str(exc))
    home = tmp_path / "home"
    data_dir = home / "data"
    data_dir.mkdir(parents=True)
    scrubbed = {"XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "ORT_DISABLE_TELEMETRY"}
    env = {k: v for k, v in os.environ.items() if k not in scrubbed and not k.startswith("STORELINK_")}
    env |= {"HOME": str(home), "STORELINK_DATA_DIR": str(data_dir), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(  # noqa: S603 - our own interpreter and a fixed script
        [sys.executable, "-c", _LOAD], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    outside = sorted(str(p.relative_to(home)) for p in home.rglob("*") if data_dir not in (p, *p.parents))
    assert outside == []  # was .cache/Microsoft/DeveloperTools/.onnxruntime/{deviceid,onnxruntime.db}
