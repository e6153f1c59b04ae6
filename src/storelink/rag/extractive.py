"""The answer without a language model: the best-matching block of the best passages.

Each passage's text is split into blocks (a heading line and its paragraph) and sentences. A
sentence scores by the question's stemmed words it contains, each weighted by how rare it is
among the candidate sentences (so "filter" in an intake guide counts less than "clean"); its
block's heading adds half its own score (a FAQ question line points at the answer under it).
List lines (``- item``) count half: they are navigation or catalogue more often than answers.
Lower-ranked passages are discounted. The answer is the winning sentence's block when the
block is short, else the winning sentence and the ones after it, up to about 60 words, with a
``[n]`` pointing at the passage it came from.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from storelink.rag.lexical import analyse
from storelink.rag.models import Passage

__all__ = ["extractive_answer"]

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
_MAX_WORDS = 60


@dataclass(slots=True)
class _Sentence:
    text: str
    terms: set[str]
    listed: bool


@dataclass(slots=True)
class _Block:
    passage: int
    heading_terms: set[str]
    sentences: list[_Sentence]


def _blocks(passage: int, text: str) -> list[_Block]:
    blocks: list[_Block] = []
    for raw in text.split("\n\n"):
        lines = [line.strip() for line in raw.splitlines() if line.strip()]
        if not lines:
            continue
        heading = ""
        first = lines[0]
        if len(lines) > 1 and (first.endswith("?") or not first.endswith((".", "!", ":", ")"))) and len(first) < 120:
            heading, lines = first, lines[1:]
        sentences = [
            _Sentence(s.strip(), set(analyse(s)), line.startswith(("- ", "* ", "|")))
            for line in lines
            for s in _SENTENCE.split(line)
            if s.strip()
        ]
        blocks.append(_Block(passage, set(analyse(heading)) if heading else set(), sentences))
    return blocks


def extractive_answer(question: str, passages: list[Passage], *, depth: int = 3) -> tuple[str, list[int]]:
    """The answer text and the (0-based) passages it cites; ("", []) when nothing matches."""
    terms = set(analyse(question))
    if not terms or not passages:
        return "", []
    blocks = [b for i, p in enumerate(passages[:depth]) for b in _blocks(i, p.text)]
    units = [s.terms for b in blocks for s in b.sentences] + [b.heading_terms for b in blocks if b.heading_terms]
    df = {t: sum(1 for u in units if t in u) for t in terms}
    weight = {t: math.log(1.0 + (len(units) + 1) / (df[t] + 0.5)) for t in terms}

    def score(found: set[str]) -> float:
        return sum(weight[t] for t in terms & found)

    best: tuple[float, int, int] | None = None  # score, block, sentence
    for b_index, block in enumerate(blocks):
        heading = score(block.heading_terms)
        discount = 1.0 / (1.0 + 0.25 * block.passage)
        for s_index, sentence in enumerate(block.sentences):
            if len(sentence.terms) < 2:
                continue
            value = (score(sentence.terms) + heading) * discount * (0.5 if sentence.listed else 1.0)
            if best is None or value > best[0]:
                best = (value, b_index, s_index)
    if best is None or best[0] <= 0:
        return "", []
    _, b_index, s_index = best
    block = blocks[b_index]
    texts = [s.text for s in block.sentences]
    if sum(len(t.split()) for t in texts) <= _MAX_WORDS and not block.sentences[s_index].listed:
        picked = texts
    else:
        picked, words = [], 0
        for text in texts[s_index:]:
            n = len(text.split())
            if picked and words + n > _MAX_WORDS:
                break
            picked.append(text)
            words += n
    return f"{' '.join(picked)} [{block.passage + 1}]", [block.passage]
