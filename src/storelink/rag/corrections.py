"""Curated corrections: operator-written answers that win over retrieval.

``corrections.yaml`` (shipped in the package; a file of the same name in the data dir replaces
it) holds entries of::

    - id: holiday-cutoff
      patterns: ["christmas", "holiday (shipping|delivery|cut-?off)"]   # regexes, case-insensitive
      examples: ["When do I need to order to get it before Christmas?"]  # optional, matched by meaning
      answer: "Order by December 17 …"
      sources: [{url: /policies/shipping, title: Shipping policy}]

A question matches when a pattern is found in it, or (with the embedding model loaded) when it
is at least :data:`SEMANTIC_THRESHOLD` cosine-similar to an example. Every hit is logged in the
store (``rag_correction_hits``), so what the corrections answered stays auditable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import numpy.typing as npt
import yaml

from storelink.errors import ConfigurationError
from storelink.rag.embed import Embedder
from storelink.rag.models import Citation

__all__ = ["SEMANTIC_THRESHOLD", "Correction", "CorrectionMatch", "Corrections", "load_corrections"]

SEMANTIC_THRESHOLD = 0.85  # MiniLM cosine above ~0.85 is a paraphrase (rag.md §5)


@dataclass(frozen=True, slots=True)
class Correction:
    id: str
    patterns: tuple[re.Pattern[str], ...]
    examples: tuple[str, ...]
    answer: str
    sources: tuple[Citation, ...]


@dataclass(frozen=True, slots=True)
class CorrectionMatch:
    correction: Correction
    how: str  # "pattern: …" or "example (cosine 0.91)"


def _normalise(text: str) -> str:
    return " ".join(text.lower().split())


@dataclass
class Corrections:
    entries: list[Correction]
    embedder: Embedder | None = None
    _example_vectors: list[tuple[Correction, npt.NDArray[np.float32]]] | None = field(default=None, repr=False)

    def match(self, question: str) -> CorrectionMatch | None:
        text = _normalise(question)
        for entry in self.entries:
            for pattern in entry.patterns:
                if pattern.search(text):
                    return CorrectionMatch(entry, f"pattern: {pattern.pattern}")
        if self.embedder is None or not any(e.examples for e in self.entries):
            return None
        if self._example_vectors is None:
            self._example_vectors = [
                (entry, self.embedder.embed(list(entry.examples))) for entry in self.entries if entry.examples
            ]
        query = self.embedder.embed([question])[0]
        best: tuple[float, Correction] | None = None
        for entry, vectors in self._example_vectors:
            score = float(np.max(vectors @ query))
            if best is None or score > best[0]:
                best = (score, entry)
        if best is not None and best[0] >= SEMANTIC_THRESHOLD:
            return CorrectionMatch(best[1], f"example (cosine {best[0]:.2f})")
        return None


def _parse(text: str, origin: str, where: str) -> list[Correction]:
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{where} is not valid YAML: {exc}") from None
    items = raw.get("corrections", []) if isinstance(raw, dict) else []
    entries: list[Correction] = []
    for n, item in enumerate(items, start=1):
        if not isinstance(item, dict) or not item.get("answer") or not (item.get("patterns") or item.get("examples")):
            raise ConfigurationError(f"{where}: correction #{n} needs an answer and patterns or examples.")
        try:
            patterns = tuple(re.compile(str(p), re.IGNORECASE) for p in item.get("patterns", []))
        except re.error as exc:
            raise ConfigurationError(f"{where}: correction #{n} has a bad pattern: {exc}") from None
        sources = tuple(
            Citation(
                url=str(s["url"]) if str(s["url"]).startswith("http") else origin.rstrip("/") + str(s["url"]),
                title=str(s.get("title", s["url"])),
            )
            for s in item.get("sources", [])
        )
        entries.append(
            Correction(
                id=str(item.get("id", f"correction-{n}")),
                patterns=patterns,
                examples=tuple(str(e) for e in item.get("examples", [])),
                answer=" ".join(str(item["answer"]).split()),
                sources=sources,
            )
        )
    return entries


def load_corrections(*, origin: str, data_dir: Path | None = None, embedder: Embedder | None = None) -> Corrections:
    """The data dir's ``corrections.yaml`` if there is one, else the packaged file."""
    local = data_dir / "corrections.yaml" if data_dir else None
    if local is not None and local.is_file():
        return Corrections(_parse(local.read_text(encoding="utf-8"), origin, str(local)), embedder)
    text = resources.files("storelink.rag").joinpath("corrections.yaml").read_text(encoding="utf-8")
    return Corrections(_parse(text, origin, "storelink/rag/corrections.yaml"), embedder)
