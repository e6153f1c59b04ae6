"""The goldens gate: the demo site's goldens, the tuning file and the held-out file must pass at
least quality.toml's thresholds.

Retrieval is hybrid, as it ships (quality.toml's ``mode``): BM25 with the query speller, dense by
chunks and sentences, z-score fusion, and the answer selector with the model. Embedding the demo
site's 408 chunks and 3,310 sentences is most of the ~60 s this takes on 2 cores (exact in-memory
vectors, no Chroma). Live-data goldens are skipped here (no connectors); tests/rag/test_router.py
covers that route. `bench/rag.py` prints the same figures beside retrieval's.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from storelink.errors import ConfigurationError
from storelink.fakes.site import SiteFake
from storelink.rag.fusion import FusionWeights, load_quality
from storelink.rag.goldens import (
    HELDOUT_FILES,
    evaluate,
    gate_threshold,
    halves,
    load_goldens,
    load_heldout,
    load_tuning,
    tune_fusion,
)
from tests.rag.conftest import open_kb


@pytest.mark.slow
@pytest.mark.timeout(360)  # ~60 s on two free cores; `make pytest` runs it beside another shard
async def test_goldens_and_heldout_pass_rates_stay_above_the_thresholds(tmp_path: Path) -> None:
    gate = load_quality()["gate"]
    assert isinstance(gate, dict) and gate["mode"] == "hybrid"
    async with open_kb(tmp_path, SiteFake(), dense=True) as kb:
        if kb.index.mode != "hybrid" or kb.selector.embedder is None:
            pytest.skip("the embedding model is not installed")
        report = await evaluate(kb, skip_routes=("live",))
        tuning = await evaluate(kb, load_tuning(), skip_routes=("live",))
        held_out = {name: await evaluate(kb, load_heldout(name), skip_routes=("live",)) for name in HELDOUT_FILES}
        # `storelink rag eval --tune` on the same index: the shipped fusion against plain RRF
        shipped = kb.index.weights
        grid = await asyncio.to_thread(tune_fusion, kb.index, load_goldens(), grid=[FusionWeights(1.0, 1.0, 60.0)])
        assert kb.index.weights == shipped
    failed = [f"{r.question} -> {r.answer[:80]!r} {r.citations}" for r in report.results if not r.passed]
    assert report.total == len([g for g in load_goldens() if g.route != "live"])
    assert report.pass_rate >= gate_threshold(), "goldens below the threshold:\n" + "\n".join(failed)
    assert report.hit_at_k >= 0.9  # the expected page is in the top 10 for nearly every question
    routes = {r.expected_route for r in report.results if r.passed}
    assert routes == {"retrieval", "correction", "none"}
    missed = [f"{r.question} -> {r.answer[:80]!r}" for r in tuning.results if not r.passed]
    assert tuning.pass_rate >= float(gate["min_tuning_pass_rate"]), "tuning below its floor:\n" + "\n".join(missed)
    for name, held in held_out.items():  # heldout.yaml's floor is min_heldout_pass_rate, and so on
        missed = [f"{r.question} -> {r.answer[:80]!r}" for r in held.results if not r.passed]
        floor = float(gate[f"min_{name.removesuffix('.yaml')}_pass_rate"])
        assert held.pass_rate >= floor, f"{name} below its floor:\n" + "\n".join(missed)
    assert [r.shipped for r in grid] == [True, False], grid  # shipped first: it leads on the tuning half
    ours, rrf = grid
    assert ours.ndcg_checked >= rrf.ndcg_checked and ours.ndcg_checked >= 0.95, grid  # and holds on the other


def test_the_goldens_are_halved_alternately_and_only_the_ranked_ones() -> None:
    goldens = load_goldens()
    tune, check = halves(goldens)
    ranked = [g for g in goldens if g.ranked]
    assert ranked and all(g.route == "retrieval" and g.expected_urls for g in ranked)
    assert tune == ranked[0::2] and check == ranked[1::2] and len(tune) - len(check) in (0, 1)
    assert not {g.question for g in tune} & {g.question for g in check}


def test_goldens_file_is_checked(tmp_path: Path) -> None:
    bad = tmp_path / "g.yaml"
    bad.write_text("goldens:\n  - question: no expectations\n")
    with pytest.raises(ConfigurationError, match="must_include"):
        load_goldens(bad)
    bad.write_text("goldens:\n  - {question: q, must_include: [x], route: teleport}\n")
    with pytest.raises(ConfigurationError, match="route"):
        load_goldens(bad)
    assert 0.5 <= gate_threshold() <= 1.0


def _words(question: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", question.lower()))


@pytest.mark.parametrize("name", HELDOUT_FILES)
def test_each_heldout_file_is_separate_and_large_enough(name: str) -> None:
    heldout = load_heldout(name)
    tuned = {_words(g.question) for g in [*load_goldens(), *load_tuning()]}
    assert len(heldout) >= 40 and len(load_tuning()) >= 40
    assert not tuned & {_words(g.question) for g in heldout}  # not even with other punctuation
    assert sum(g.route == "none" for g in heldout) >= 5  # questions the site cannot answer
    assert sum(bool(g.must_include_all) for g in heldout) >= 3  # answers spanning two sentences
    with pytest.raises(ConfigurationError, match=re.escape(", ".join(HELDOUT_FILES))):
        load_heldout("tuning.yaml")
