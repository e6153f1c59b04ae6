"""Goldens: questions with what a good answer contains and cites, scored as a regression gate.

A golden passes when the router takes its route (retrieval unless it says otherwise), the
answer contains any of ``must_include`` (and all of ``must_include_all``) and cites any of
``must_cite``. The held-out files (``HELDOUT_FILES``) have the same shape: questions in customers'
words that nothing is tuned on, reported apart from the goldens. Retrieval goldens are
also scored as a ranking of pages (the chunks' URLs, first occurrence kept): hit@1, hit@k,
MRR@k and nDCG@k against ``expected_urls``.

:func:`tune_fusion` grid-searches the fusion weights on one half of the goldens' rankings and
shows each point on the other half; weights are written into ``quality.toml`` by hand, with the
figures, so a change is reviewed.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, Field

from storelink.errors import ConfigurationError
from storelink.rag.extractive import (
    AnswerWeights,
    Candidate,
    Selection,
    candidates,
    span_text,
    stand_out_confidence,
    weighted_score,
)
from storelink.rag.fusion import FusionWeights, fusion_grid, load_quality
from storelink.rag.index import HybridIndex, RetrievalMode
from storelink.rag.knowledge import SiteKnowledge
from storelink.rag.models import Route
from storelink.rag.scoring import hit_at_k, mrr_at_k, ndcg_at_k, recall_at_k

__all__ = [
    "HELDOUT_FILES",
    "AnswerTuningRow",
    "EvalReport",
    "Golden",
    "GoldenResult",
    "TuningRow",
    "answer_candidates",
    "evaluate",
    "gate_threshold",
    "halves",
    "load_goldens",
    "load_heldout",
    "load_tuning",
    "ranking_metrics",
    "tune_answers",
    "tune_fusion",
]


@dataclass(frozen=True, slots=True)
class Golden:
    question: str
    must_include: tuple[str, ...]
    must_cite: tuple[str, ...] = ()
    expected_urls: tuple[str, ...] = ()
    route: Route = "retrieval"
    must_include_all: tuple[str, ...] = ()  # and every one of these (answers spanning sentences)

    @property
    def ranked(self) -> bool:
        """Scored as a ranking of pages too: a retrieval golden that names its expected pages."""
        return self.route == "retrieval" and bool(self.expected_urls)

    def included_in(self, answer: str) -> bool:
        """``answer`` contains one of ``must_include`` and all of ``must_include_all`` (any case)."""
        text = answer.lower()
        return any(s.lower() in text for s in self.must_include) and all(
            s.lower() in text for s in self.must_include_all
        )

    def cited_in(self, paths: Sequence[str]) -> bool:
        """One of ``must_cite`` is among the cited ``paths`` (or nothing must be cited)."""
        return not self.must_cite or any(p in paths for p in self.must_cite)


def load_goldens(path: Path | None = None, *, packaged: str = "goldens.yaml") -> list[Golden]:
    """The goldens at ``path``, or the packaged file ``packaged`` (``goldens.yaml``)."""
    if path is not None:
        text, where = path.read_text(encoding="utf-8"), str(path)
    else:
        text = resources.files("storelink.rag").joinpath(packaged).read_text(encoding="utf-8")
        where = f"storelink/rag/{packaged}"
    raw = yaml.safe_load(text) or {}
    items = raw.get("goldens", []) if isinstance(raw, dict) else []
    goldens: list[Golden] = []
    for n, item in enumerate(items, start=1):
        if not isinstance(item, dict) or not item.get("question") or not item.get("must_include"):
            raise ConfigurationError(f"{where}: golden #{n} needs a question and must_include.")
        route = item.get("route", "retrieval")
        if route not in ("retrieval", "correction", "live", "none"):
            raise ConfigurationError(f"{where}: golden #{n} has an unknown route {route!r}.")
        goldens.append(
            Golden(
                question=str(item["question"]),
                must_include=tuple(str(s) for s in item["must_include"]),
                must_cite=tuple(str(s) for s in item.get("must_cite", [])),
                expected_urls=tuple(str(s) for s in item.get("expected_urls", [])),
                route=route,
                must_include_all=tuple(str(s) for s in item.get("must_include_all", [])),
            )
        )
    return goldens


def load_tuning() -> list[Golden]:
    """The tuning questions (``tuning.yaml``): customers' words, tuned on with the goldens."""
    return load_goldens(packaged="tuning.yaml")


HELDOUT_FILES = ("heldout.yaml", "heldout2.yaml", "heldout3.yaml")


def load_heldout(name: str = "heldout.yaml") -> list[Golden]:
    """A held-out file's questions, in customers' words, never tuned on: ``heldout.yaml`` (written
    with the first tuning questions), ``heldout2.yaml`` or ``heldout3.yaml`` (each by a writer who
    saw only the site)."""
    if name not in HELDOUT_FILES:
        raise ConfigurationError(f"No held-out file {name!r}; there are {', '.join(HELDOUT_FILES)}.")
    return load_goldens(packaged=name)


def gate_threshold() -> float:
    gate = load_quality().get("gate", {})
    assert isinstance(gate, dict)
    return float(gate.get("min_pass_rate", 0.0))


def _path(url: str) -> str:
    return urlsplit(url).path or "/"


class GoldenResult(BaseModel):
    question: str
    passed: bool
    route: str
    expected_route: str
    included: bool
    cited: bool
    first_relevant_rank: int | None = None
    answer: str
    citations: list[str]


class EvalReport(BaseModel):
    total: int
    passed: int
    pass_rate: float
    threshold: float
    k: int
    hit_at_1: float
    hit_at_k: float
    recall_at_k: float
    mrr: float
    ndcg: float
    retrieval_mode: str
    fusion: str
    results: list[GoldenResult] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RankingScores:
    hit_at_1: float
    hit_at_k: float
    recall_at_k: float
    mrr: float
    ndcg: float


def ranking_metrics(
    index: HybridIndex, goldens: Sequence[Golden], *, k: int = 10, mode: RetrievalMode | None = None
) -> tuple[RankingScores, list[int | None]]:
    """Page-level ranking quality of the retrieval goldens (and each one's first relevant rank)."""
    scored = [g for g in goldens if g.ranked]
    if not scored:
        return RankingScores(0, 0, 0, 0, 0), []
    sums = [0.0] * 5
    ranks: list[int | None] = []
    for golden in scored:
        pages: list[str] = []
        for _, row in index.chunks_for(index.search(golden.question, max(k * 3, 30), mode=mode)):
            path = _path(row.url)
            if path not in pages:
                pages.append(path)
        relevant = set(golden.expected_urls)
        first = next((i for i, p in enumerate(pages, start=1) if p in relevant), None)
        ranks.append(first)
        for i, value in enumerate(
            (
                hit_at_k(pages, relevant, 1),
                hit_at_k(pages, relevant, k),
                recall_at_k(pages, relevant, k),
                mrr_at_k(pages, relevant, k),
                ndcg_at_k(pages, relevant, k),
            )
        ):
            sums[i] += value
    n = len(scored)
    return RankingScores(*(round(s / n, 4) for s in sums)), ranks


async def evaluate(
    kb: SiteKnowledge, goldens: Sequence[Golden] | None = None, *, k: int = 10, skip_routes: Sequence[str] = ()
) -> EvalReport:
    """Run every golden through the router and score the answers and the rankings. Goldens of
    ``skip_routes`` are left out (the test gate skips ``live``: it runs without connectors)."""
    goldens = [g for g in (goldens if goldens is not None else load_goldens()) if g.route not in skip_routes]
    await kb.ensure_ready()
    results: list[GoldenResult] = []
    for golden in goldens:
        answer = await kb.answer(golden.question)
        included = golden.included_in(answer.answer)
        cited_paths = [_path(c.url) for c in answer.citations]
        cited = golden.cited_in(cited_paths)
        results.append(
            GoldenResult(
                question=golden.question,
                passed=included and cited and answer.route == golden.route,
                route=answer.route,
                expected_route=golden.route,
                included=included,
                cited=cited,
                answer=answer.answer[:300],
                citations=cited_paths,
            )
        )
    scores, ranks = await asyncio.to_thread(ranking_metrics, kb.index, goldens, k=k)
    retrieval_results = [r for r, g in zip(results, goldens, strict=True) if g.ranked]
    for result, rank in zip(retrieval_results, ranks, strict=True):
        result.first_relevant_rank = rank
    passed = sum(r.passed for r in results)
    return EvalReport(
        total=len(results),
        passed=passed,
        pass_rate=round(passed / len(results), 4) if results else 0.0,
        threshold=gate_threshold(),
        k=k,
        hit_at_1=scores.hit_at_1,
        hit_at_k=scores.hit_at_k,
        recall_at_k=scores.recall_at_k,
        mrr=scores.mrr,
        ndcg=scores.ndcg,
        retrieval_mode=kb.index.mode,
        fusion=kb.index.weights.describe() if kb.index.mode == "hybrid" else "—",
        results=results,
    )


class TuningRow(BaseModel):
    fusion: str  # FusionWeights.describe()
    shipped: bool  # the weights in quality.toml
    ndcg_tuned: float  # nDCG@10 on the half the rows are sorted by
    ndcg_checked: float  # nDCG@10 on the other half, which chose nothing
    mrr_tuned: float


def halves(goldens: Sequence[Golden]) -> tuple[list[Golden], list[Golden]]:
    """The ranked goldens (retrieval, with expected pages) at even and at odd positions."""
    ranked = [g for g in goldens if g.ranked]
    return ranked[0::2], ranked[1::2]


def tune_fusion(
    index: HybridIndex, goldens: Sequence[Golden], *, grid: Sequence[FusionWeights] | None = None
) -> list[TuningRow]:
    """Every grid point (:func:`fusion_grid`, and the shipped weights) scored on one half of the
    goldens and shown on the other, best on the first half first; ties go to the shipped weights.
    A point that leads on the half it was chosen on and not on the other has learnt that half's
    questions, not how to fuse: keep the shipped weights unless a point beats them on both.
    Needs the dense half: an index without a model cannot be tuned."""
    if index.mode != "hybrid":
        raise ConfigurationError("Tuning needs the embedding model: the index is lexical-only.")
    tune, check = halves(goldens)
    if not tune or not check:
        raise ConfigurationError("Tuning needs at least two retrieval goldens with expected_urls, one per half.")
    original = index.weights
    points = list(dict.fromkeys([original, *(grid if grid is not None else fusion_grid())]))
    rows: list[TuningRow] = []
    try:
        for weights in points:
            index.weights = weights
            tuned, _ = ranking_metrics(index, tune)
            checked, _ = ranking_metrics(index, check)
            rows.append(TuningRow(fusion=weights.describe(), shipped=weights == original, ndcg_tuned=tuned.ndcg,
                                  ndcg_checked=checked.ndcg, mrr_tuned=tuned.mrr))  # fmt: skip
    finally:
        index.weights = original
    return sorted(rows, key=lambda r: (-r.ndcg_tuned, not r.shipped))


@dataclass(frozen=True, slots=True)
class _Question:
    """One golden's candidates, scored once: what each would answer, and whether it would pass."""

    golden: Golden
    found: list[Candidate]
    dense: list[float]  # each candidate's cosine with the question
    passes: list[bool]


class AnswerTuningRow(BaseModel):
    dense: float
    lexical: float
    rank: float
    min_score: float
    heading: float = 0.0
    type_miss: float = 0.0
    catalogue: float = 0.0
    stand_out: float = 0.0
    passed: int
    total: int
    answered_right: int  # answerable goldens answered with a passing sentence
    refused_right: int  # unanswerable goldens refused


async def answer_candidates(kb: SiteKnowledge, goldens: Sequence[Golden]) -> list[_Question]:
    """Every retrieval (and ``none``) golden's candidate sentences with their dense and lexical
    scores and whether each would pass, so a grid of weights costs no retrieval."""
    selector = kb.selector
    if selector.embedder is None:
        raise ConfigurationError("Tuning the answer needs the embedding model.")
    await kb.ensure_ready()
    out: list[_Question] = []
    for golden in goldens:
        if golden.route not in ("retrieval", "none"):
            continue
        passages, _ = await kb.search(golden.question, selector.weights.depth)
        found, blocks = candidates(golden.question, passages, depth=selector.weights.depth)
        vectors = await asyncio.to_thread(selector.sentence_vectors, [c.context for c in found])
        dense = [float(d) for d in vectors @ selector.question_vector(golden.question)] if found else []
        passes: list[bool] = []
        for c in found:  # what the selector would answer with c the best: its span, and the page it points at
            alone = Selection(span_text(blocks, c), [c.passage], 0.0, True)
            picked = selector.follow(golden.question, passages, c, alone)
            cited_from = picked.passages_with(passages)
            cited = [_path(cited_from[i].url) for i in picked.cited]
            passes.append(golden.included_in(picked.text) and golden.cited_in(cited))
        out.append(_Question(golden=golden, found=found, dense=dense, passes=passes))
    return out


_THRESHOLDS = tuple(round(0.2 + 0.025 * n, 3) for n in range(29))


def tune_answers(
    questions: Sequence[_Question],
    *,
    lexical_weights: Sequence[float] = (0.0, 0.1, 0.2),
    heading_weights: Sequence[float] = (0.0, 0.1),
    ranks: Sequence[float] = (0.0, 0.02, 0.04, 0.06),
    type_misses: Sequence[float] = (0.0, 0.1, 0.2, 0.3, 0.45, 0.6),
    catalogues: Sequence[float] = (0.0, 0.05, 0.1, 0.15),
    stand_outs: Sequence[float] = (0.0, 0.25, 0.5, 1.0),
    thresholds: Sequence[float] = _THRESHOLDS,
) -> list[AnswerTuningRow]:
    """Every grid point's pass count on ``questions`` (dense weight 1), best first; ties go to
    the lower threshold (fewer answerable questions refused elsewhere), then to smaller weights."""
    rows: list[AnswerTuningRow] = []
    grid = itertools.product(lexical_weights, heading_weights, ranks, type_misses, catalogues, stand_outs)
    for lw, hw, rk, tm, cat, so in grid:
        weights = AnswerWeights(dense=1.0, lexical=lw, heading=hw, rank=rk, type_miss=tm, catalogue=cat)
        best: list[tuple[float, bool]] = []  # each question's confidence and whether its answer passes
        for q in questions:
            scores = [weighted_score(weights, c, d) for c, d in zip(q.found, q.dense, strict=True)]
            if not scores:
                best.append((float("-inf"), False))
                continue
            i = max(range(len(scores)), key=scores.__getitem__)
            best.append((stand_out_confidence(scores, so), q.passes[i]))
        for th in thresholds:
            answered = refused = 0
            for q, (score, ok) in zip(questions, best, strict=True):
                if q.golden.route == "none":
                    refused += score < th
                else:
                    answered += score >= th and ok
            rows.append(
                    AnswerTuningRow(dense=1.0, lexical=lw, rank=rk, min_score=th, heading=hw, type_miss=tm,
                                    catalogue=cat, stand_out=so, passed=answered + refused, total=len(questions),
                                    answered_right=answered, refused_right=refused)
                )  # fmt: skip
    return sorted(rows, key=lambda r: (-r.passed, r.min_score, _weight_sum(r)))


def _weight_sum(row: AnswerTuningRow) -> float:
    return row.lexical + row.heading + row.type_miss + row.catalogue + row.rank + row.stand_out
