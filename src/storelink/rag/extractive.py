"""The answer without a language model: the sentence that answers the question, from the best passages.

Each of the top passages is split into blocks (a heading line and its paragraph) and sentences.
Every sentence is a candidate, scored with the question in view:

* **dense**: the cosine between the question and the sentence embedded *with its context*
  (``page title · heading: sentence``), with the embedding model retrieval already loaded. The
  vectors are computed at ingest (:meth:`AnswerSelector.warm`) and kept in the embedding cache
  (keyed by model and text hash), so choosing costs a cache read and a dot product;
* **lexical**: the share of the question's stemmed words the sentence (or half its block's
  heading: a FAQ question line points at the answer under it) contains, each word weighted by
  how rare it is among the candidates, so "filter" in an intake guide counts less than "clean";
* **rank**: a small penalty per place the passage is below the first;
* **type miss**: a penalty when the question asks for a kind of answer (a power, a time of day, how
  often…: :mod:`storelink.rag.answer_types`) and the sentence states none: the answer to "how
  often" is "every 12 months", not the sentence nearest in meaning. The same penalty, once, when
  the question names a country that the sentence's block (its page title, heading and sentences)
  does not (:mod:`storelink.rag.places`): "US orders" do not answer "shipping to Australia";
* **catalogue**: a penalty for sentences of product and collection pages (Shopify's
  ``/products/`` and ``/collections/``), whose boilerplate ("X by Y, engineered for Z") is near
  every question about a product and answers almost none.

List lines (``- item``) count half: they are navigation or catalogue more often than answers (table
rows do not: a SKU or a price lives in one).
The answer is the winning sentence's block when the block is short, else the winning sentence and
the ones after it, up to about 60 words, with a ``[n]`` pointing at the passage (so the page) it
came from. When the winning sentence names a link of its page ("Get the track day checklist.",
"Follow our bedding-in procedure"), the answer is on the linked page: its best sentence, scored the
same way, follows with its own citation (one hop; the store keeps each page's links). The answer's
*confidence* is the best score plus ``stand_out`` times its lead over the fifth best: an answer
stands out from the other sentences about the same thing, a near miss (a question the site cannot
answer, asked about a page it has) does not. When the confidence is below
:attr:`AnswerWeights.min_score`, there is no answer: the router says "not found on the site" rather
than quote an unrelated sentence. The weights and the threshold are tuned on the goldens and
``tuning.yaml`` (``bench/rag.py --tune-answers``; never on ``heldout.yaml``) and kept in
``quality.toml``, where a weight the grid set to 0 stays 0; without the model, the lexical score
alone decides, with its own threshold.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from storelink.rag.answer_types import asked_type
from storelink.rag.docstore import ChunkRow, KnowledgeStore
from storelink.rag.embed import Embedder
from storelink.rag.fusion import load_quality
from storelink.rag.lexical import analyse
from storelink.rag.models import Passage
from storelink.rag.places import places_named

__all__ = [
    "AnswerSelector",
    "AnswerWeights",
    "Candidate",
    "Selection",
    "candidates",
    "extractive_answer",
    "span_text",
    "stand_out_confidence",
    "tuned_answer_weights",
    "weighted_score",
]

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
_CATALOGUE = ("/products/", "/collections/")
_MAX_WORDS = 60
_LEXICAL_DEPTH = 3  # without the model, passages past the third are noise more often than not
_STAND_OUT_PLACE = 5  # the confidence is the best score's lead over the fifth best
_MAX_FOLLOWED = 2  # pages a pointer sentence is followed to (two links in one sentence at most)
Vector = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class AnswerWeights:
    dense: float = 1.0
    lexical: float = 0.3
    rank: float = 0.02  # subtracted per place below the first passage
    heading: float = 0.0  # times the share of the question's words in the block's heading
    type_miss: float = 0.0  # subtracted when a kind of answer is asked for and the sentence states none
    catalogue: float = 0.0  # subtracted for product and collection pages
    stand_out: float = 0.0  # the confidence: best score + stand_out * (best - fifth best)
    min_score: float = 0.0  # with the model: a confidence below this is "not found on the site"
    min_lexical: float = 0.0  # without it: the same, on the lexical score
    depth: int = 5  # how many passages are read

    def describe(self) -> str:
        return (
            f"dense {self.dense:g} · lexical {self.lexical:g} · heading {self.heading:g} · rank {self.rank:g} · "
            f"type miss {self.type_miss:g} · catalogue {self.catalogue:g} · depth {self.depth} · "
            f"not found below {self.min_score:g} with stand-out {self.stand_out:g} (lexical-only {self.min_lexical:g})"
        )


def tuned_answer_weights() -> AnswerWeights:
    """``[answer]`` in ``quality.toml``: the weights and thresholds tuned on the goldens and tuning.yaml."""
    answer = load_quality().get("answer", {})
    assert isinstance(answer, dict)
    defaults = AnswerWeights()
    return AnswerWeights(
        dense=float(answer.get("dense", defaults.dense)),
        lexical=float(answer.get("lexical", defaults.lexical)),
        rank=float(answer.get("rank", defaults.rank)),
        heading=float(answer.get("heading", defaults.heading)),
        type_miss=float(answer.get("type_miss", defaults.type_miss)),
        catalogue=float(answer.get("catalogue", defaults.catalogue)),
        stand_out=float(answer.get("stand_out", defaults.stand_out)),
        min_score=float(answer.get("min_score", defaults.min_score)),
        min_lexical=float(answer.get("min_lexical", defaults.min_lexical)),
        depth=int(answer.get("depth", defaults.depth)),
    )


@dataclass(slots=True)
class _Sentence:
    text: str
    terms: set[str]
    listed: bool


@dataclass(slots=True)
class _Block:
    passage: int
    heading: str
    heading_terms: set[str]
    sentences: list[_Sentence]


@dataclass(frozen=True, slots=True)
class Candidate:
    """One sentence that could answer: where it is, what it is embedded as, its lexical score."""

    passage: int
    block: int
    sentence: int
    text: str
    context: str  # what the model embeds: page title · heading: sentence
    lexical: float  # share of the question's weighted words found (0..1.5 with the heading's half)
    listed: bool
    heading: float = 0.0  # share of them in the block's heading
    typed: bool | None = None  # states the kind of answer asked for (None: no kind is asked for)
    other_place: bool = False  # the question names a country its block (title, heading, text) does not
    catalogue: bool = False  # on a product or collection page


@dataclass(frozen=True, slots=True)
class Selection:
    text: str  # the span, with its [n] citation marker
    cited: list[int]  # 0-based passages cited
    score: float
    found: bool  # False: not confident enough; ``text`` is the best guess, not an answer
    confidence: float = 0.0  # what the threshold is compared with
    followed: Passage | None = None  # the linked page's passage cited after the answer, when not among them

    def passages_with(self, passages: Sequence[Passage]) -> list[Passage]:
        """``passages`` as :attr:`cited` indexes them: with the followed passage last, when there is one."""
        return [*passages, self.followed] if self.followed is not None else list(passages)


def _blocks(passage: int, text: str) -> list[_Block]:
    blocks: list[_Block] = []
    for raw in text.split("\n\n"):
        lines = [line.strip() for line in raw.splitlines() if line.strip()]
        if not lines:
            continue
        heading = ""
        first = lines[0]
        if len(lines) > 1 and (first.endswith("?") or not first.endswith((".", "!", ":", ")"))) and len(first) < 120:
            heading, lines = first.lstrip("#").strip(), lines[1:]
        sentences = [
            _Sentence(s.strip(), set(analyse(s)), line.startswith(("- ", "* ")))
            for line in lines
            for s in _SENTENCE.split(line)
            if s.strip()
        ]
        blocks.append(_Block(passage, heading, set(analyse(heading)) if heading else set(), sentences))
    return blocks


def _context(passage: Passage, block: _Block, sentence: str) -> str:
    heading = block.heading or passage.heading
    head = passage.title if not heading or heading == passage.title else f"{passage.title} · {heading}"
    return f"{head}: {sentence}"


def _block_text(passage: Passage, block: _Block) -> str:
    return " ".join([passage.title, block.heading, *(s.text for s in block.sentences)])


def candidates(question: str, passages: Sequence[Passage], *, depth: int = 5) -> tuple[list[Candidate], list[_Block]]:
    """Every sentence of the top ``depth`` passages with its lexical score, and the blocks."""
    terms = set(analyse(question))
    kind = asked_type(question)
    asked_places = places_named(question)
    blocks = [b for i, p in enumerate(passages[:depth]) for b in _blocks(i, p.text)]
    units = [s.terms for b in blocks for s in b.sentences] + [b.heading_terms for b in blocks if b.heading_terms]
    df = {t: sum(1 for u in units if t in u) for t in terms}
    weight = {t: math.log(1.0 + (len(units) + 1) / (df[t] + 0.5)) for t in terms}
    total = sum(weight.values()) or 1.0
    out: list[Candidate] = []
    for b_index, block in enumerate(blocks):
        heading = sum(weight[t] for t in terms & block.heading_terms)
        named = places_named(_block_text(passages[block.passage], block)) if asked_places else frozenset()
        other_place = bool(asked_places) and not asked_places & named
        for s_index, sentence in enumerate(block.sentences):
            if len(sentence.text.split()) < 3:
                continue
            found = sum(weight[t] for t in terms & sentence.terms)
            lexical = (found + 0.5 * heading) / total
            heading_share = heading / total
            out.append(
                Candidate(
                    passage=block.passage,
                    block=b_index,
                    sentence=s_index,
                    text=sentence.text,
                    context=_context(passages[block.passage], block, sentence.text),
                    lexical=lexical,
                    listed=sentence.listed,
                    heading=heading_share,
                    typed=None if kind is None else kind.stated_in(sentence.text),
                    other_place=other_place,
                    catalogue=any(part in passages[block.passage].url for part in _CATALOGUE),
                )
            )
    return out, blocks


def weighted_score(w: AnswerWeights, c: Candidate, cosine: float) -> float:
    """``c``'s score with the model, its cosine with the question being ``cosine`` (the selector's
    and the tuning grid's one formula)."""
    return (
        (w.dense * cosine + w.lexical * c.lexical + w.heading * c.heading) * (0.5 if c.listed else 1.0)
        - w.rank * c.passage
        - w.catalogue * c.catalogue
        - w.type_miss * (c.typed is False or c.other_place)
    )


def stand_out_confidence(scores: Sequence[float], stand_out: float) -> float:
    """The best score plus ``stand_out`` times its lead over the fifth best (the last, when fewer)."""
    ranked = sorted(scores, reverse=True)
    return ranked[0] + stand_out * (ranked[0] - ranked[min(_STAND_OUT_PLACE, len(ranked)) - 1])


def span_text(blocks: Sequence[_Block], best: Candidate, *, cite: int | None = None) -> str:
    """The answer text around ``best``: its block when short, else it and what follows, with the
    ``[n]`` of its passage (or ``cite``, 0-based)."""
    block = blocks[best.block]
    texts = [s.text for s in block.sentences]
    if sum(len(t.split()) for t in texts) <= _MAX_WORDS and not best.listed:
        picked = texts
    else:
        picked, words = [], 0
        for text in texts[best.sentence :]:
            n = len(text.split())
            if picked and words + n > _MAX_WORDS:
                break
            picked.append(text)
            words += n
    return f"{' '.join(picked)} [{(best.passage if cite is None else cite) + 1}]"


def _sha(text: str) -> str:
    return hashlib.sha256(("sentence\n" + text).encode("utf-8")).hexdigest()


class AnswerSelector:
    """Chooses the answer sentence; with an embedder, by meaning as well as by words."""

    def __init__(
        self,
        weights: AnswerWeights,
        *,
        embedder: Embedder | None = None,
        docs: KnowledgeStore | None = None,
        query_vector: Callable[[str], Vector] | None = None,
    ) -> None:
        self.weights = weights
        self.embedder = embedder
        self.docs = docs
        self._query_vector = query_vector
        self._memory: dict[str, Vector] = {}  # when there is no store to cache in

    def question_vector(self, question: str) -> Vector:
        assert self.embedder is not None
        if self._query_vector is not None:
            return self._query_vector(question)
        return np.asarray(self.embedder.embed([question])[0], dtype=np.float32)

    def sentence_vectors(self, contexts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Vectors of ``contexts`` from the cache; the missing ones are embedded and cached."""
        assert self.embedder is not None
        shas = [_sha(c) for c in contexts]
        if self.docs is not None:
            found = self.docs.cached_vectors(self.embedder.model_id, sorted(set(shas)))
        else:
            found = {s: self._memory[s] for s in shas if s in self._memory}
        todo = {s: c for s, c in zip(shas, contexts, strict=True) if s not in found}
        if todo:
            keys = sorted(todo)
            fresh = self.embedder.embed([todo[k] for k in keys])
            pairs = [(k, fresh[i]) for i, k in enumerate(keys)]
            if self.docs is not None:
                self.docs.cache_vectors(self.embedder.model_id, pairs)
            else:
                self._memory.update(pairs)
            found.update(pairs)
        if not shas:
            return np.zeros((0, self.embedder.dim), dtype=np.float32)
        return np.stack([found[s] for s in shas]).astype(np.float32)

    @staticmethod
    def contexts(chunk: ChunkRow) -> list[str]:
        """What :meth:`select` embeds for each sentence of ``chunk``."""
        found, _ = candidates("", [chunk.passage()], depth=1)
        return [c.context for c in found]

    def warm(self, chunks: Iterable[ChunkRow]) -> int:
        """Embed (or find cached) every sentence of ``chunks``, as :meth:`select` will ask for
        them; the number of sentences. Called after ingest, so answering never embeds."""
        if self.embedder is None:
            return 0
        unique = sorted({context for chunk in chunks for context in self.contexts(chunk)})
        for start in range(0, len(unique), 256):
            self.sentence_vectors(unique[start : start + 256])
        return len(unique)

    def chunk_sentences(self, chunks: Sequence[ChunkRow]) -> dict[str, Vector]:
        """Each chunk's sentence vectors (one row per sentence), for sentence-level dense retrieval.
        Only vectors already cached (by :meth:`warm`, at ingest): a query never waits for the
        ~30 s of embedding a site's sentences; a chunk without them is scored by its own vector."""
        if self.embedder is None:
            return {}
        per_chunk = {chunk.id: self.contexts(chunk) for chunk in chunks}
        unique = sorted({c for contexts in per_chunk.values() for c in contexts})
        shas = {c: _sha(c) for c in unique}
        if self.docs is not None:
            found: dict[str, Vector] = {}
            for start in range(0, len(unique), 1024):
                part = sorted({shas[c] for c in unique[start : start + 1024]})
                found.update(self.docs.cached_vectors(self.embedder.model_id, part))
        else:
            found = {s: self._memory[s] for s in shas.values() if s in self._memory}
        out: dict[str, Vector] = {}
        for chunk_id, contexts in per_chunk.items():
            rows = [found[shas[c]] for c in contexts if shas[c] in found]
            if rows:
                out[chunk_id] = np.stack(rows).astype(np.float32)
        return out

    def score(self, question: str, found: list[Candidate]) -> list[float]:
        """Each candidate's score under the weights (with the model when there is one)."""
        w = self.weights
        if self.embedder is None:  # the heading counts whole: a FAQ's question line names its answer
            return [
                (c.lexical + 0.5 * c.heading) * (0.5 if c.listed else 1.0) / (1.0 + 0.25 * c.passage)
                if c.passage < _LEXICAL_DEPTH
                else 0.0
                for c in found
            ]
        if not found:
            return []
        dense = self.sentence_vectors([c.context for c in found]) @ self.question_vector(question)
        return [weighted_score(w, c, float(d)) for c, d in zip(found, dense, strict=True)]

    def select(self, question: str, passages: Sequence[Passage]) -> Selection | None:
        """The answer span and the passage it cites; None when there is no candidate at all."""
        if not passages or (not analyse(question) and self.embedder is None):
            return None
        found, blocks = candidates(question, passages, depth=self.weights.depth)
        if not found:
            return None
        scores = self.score(question, found)
        i = max(range(len(found)), key=scores.__getitem__)
        best = found[i]
        if self.embedder is None:  # the lexical score alone, against its own threshold
            confidence, threshold = scores[i], self.weights.min_lexical
        else:
            confidence, threshold = stand_out_confidence(scores, self.weights.stand_out), self.weights.min_score
        selection = Selection(span_text(blocks, best), [best.passage], scores[i], confidence >= threshold, confidence)
        return self.follow(question, passages, best, selection) if selection.found else selection

    def follow(self, question: str, passages: Sequence[Passage], best: Candidate, selection: Selection) -> Selection:
        """``selection`` with the best sentence of the page ``best`` points at, when it names a link
        of its page; unchanged when it names none (or the store is not at hand)."""
        if self.docs is None:
            return selection
        said = best.text.lower()
        source = passages[best.passage].url
        targets = [t for a, t in self.docs.links_from(source) if len(a) >= 4 and a.lower() in said]
        if not targets:
            return selection
        chunks = [c for t in dict.fromkeys(targets[:_MAX_FOLLOWED]) for c in self.docs.page_chunks(t)]
        linked = [c.passage() for c in chunks]
        found, blocks = candidates(question, linked, depth=len(linked))
        found = [dataclasses.replace(c, passage=0) for c in found]  # no rank among one page's chunks
        if not found:
            return selection
        scores = self.score(question, found)
        j = max(range(len(found)), key=scores.__getitem__)
        chunk = linked[blocks[found[j].block].passage]
        known = next((n for n, p in enumerate(passages) if p.id == chunk.id), None)
        cite = known if known is not None else len(passages)  # never best's: links_from skips its own page
        text = f"{selection.text} {span_text(blocks, found[j], cite=cite)}"
        followed = None if known is not None else chunk
        return dataclasses.replace(selection, text=text, cited=[*selection.cited, cite], followed=followed)


def extractive_answer(question: str, passages: list[Passage], *, depth: int = 3) -> tuple[str, list[int]]:
    """Lexical-only choice (no model, no threshold): the answer text and the (0-based) passages
    it cites; ("", []) when nothing matches."""
    selector = AnswerSelector(AnswerWeights(depth=depth))
    selection = selector.select(question, passages)
    if selection is None or selection.score <= 0:
        return "", []
    return selection.text, selection.cited
