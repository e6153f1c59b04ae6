"""The goldens gate: the demo site's goldens must pass at least quality.toml's threshold.

Runs lexical-only (BM25), as quality.toml says: embedding the demo site takes about a minute on
2 cores. Live-data goldens are skipped here (no connectors); tests/rag/test_router.py covers that
route. `storelink rag eval` runs them all, hybrid.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from storelink.errors import ConfigurationError
from storelink.fakes.site import SiteFake
from storelink.rag.fusion import load_quality
from storelink.rag.goldens import evaluate, gate_threshold, load_goldens
from tests.rag.conftest import open_kb


async def test_goldens_pass_rate_stays_above_the_threshold(tmp_path: Path) -> None:
    gate = load_quality()["gate"]
    assert isinstance(gate, dict) and gate["mode"] == "lexical"
    async with open_kb(tmp_path, SiteFake(), dense=False) as kb:
        report = await evaluate(kb, skip_routes=("live",))
    failed = [f"{r.question} -> {r.answer[:80]!r} {r.citations}" for r in report.results if not r.passed]
    assert report.total == len([g for g in load_goldens() if g.route != "live"])
    assert report.pass_rate >= gate_threshold(), "goldens below the threshold:\n" + "\n".join(failed)
    assert report.hit_at_k >= 0.9  # the expected page is in the top 10 for nearly every question
    routes = {r.expected_route for r in report.results if r.passed}
    assert routes == {"retrieval", "correction"}


def test_goldens_file_is_checked(tmp_path: Path) -> None:
    bad = tmp_path / "g.yaml"
    bad.write_text("goldens:\n  - question: no expectations\n")
    with pytest.raises(ConfigurationError, match="must_include"):
        load_goldens(bad)
    bad.write_text("goldens:\n  - {question: q, must_include: [x], route: teleport}\n")
    with pytest.raises(ConfigurationError, match="route"):
        load_goldens(bad)
    assert 0.5 <= gate_threshold() <= 1.0
