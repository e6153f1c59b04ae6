"""Query spelling, corrected to the site's own vocabulary ("clucth" -> "clutch").

Customers misspell; BM25 then matches nothing for that word and the model sees a word-piece
soup. A query word is corrected only when it is neither a site word (its stem is not in the BM25
index) nor an English word (not a whole word of the embedding model's WordPiece vocabulary:
"trade" is a word, "clucth" is not; without that check "trade" became "grade" and "motor"
"rotor"). It is replaced by the one edit of it (a letter deleted, swapped with its neighbour,
replaced or inserted: Damerau distance 1) that keeps its first letter and whose stem the site uses
most (document frequency in the index). Words under five letters, stopwords and anything with a
digit (SKUs, "5w30") are left alone. Only site words are ever suggested; with no dictionary (no
model installed) nothing is corrected.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Collection, Mapping

__all__ = ["SiteSpeller"]

_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
_MIN_LETTERS = 5


def _edits(word: str) -> set[str]:
    """Every string one deletion, transposition, replacement or insertion away from ``word``."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    letters = string.ascii_lowercase
    deletes = {a + b[1:] for a, b in splits if b}
    transposes = {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    replaces = {a + c + b[1:] for a, b in splits if b for c in letters}
    inserts = {a + c + b for a, b in splits for c in letters}
    return (deletes | transposes | replaces | inserts) - {word}


class SiteSpeller:
    """``correct(query)``: the query with each unknown word replaced by its likeliest site word."""

    def __init__(
        self,
        document_frequency: Mapping[str, int],
        stem: Callable[[list[str]], list[str]],
        *,
        dictionary: Collection[str],
        skip: Collection[str] = (),
    ) -> None:
        self._df = document_frequency  # stem -> how many chunks use it
        self._stem = stem
        self._skip = frozenset(skip)  # stopwords: never in the index, never misspellings
        self._dictionary = dictionary  # English words: never misspellings
        self._cache: dict[str, str] = {}

    def known(self, word: str) -> bool:
        return self._stem([word.lower()])[0] in self._df

    def word(self, word: str) -> str:
        """``word`` itself, or the site word one edit away whose stem is most used."""
        lower = word.lower()
        if not self._dictionary or len(lower) < _MIN_LETTERS or not lower.isalpha() or lower in self._skip:
            return word
        if lower in self._cache:
            return self._cache[lower] if self._cache[lower] != lower else word
        best = lower
        if lower not in self._dictionary and not self.known(lower):
            candidates = sorted(e for e in _edits(lower) if e[:1] == lower[:1])
            stems = self._stem(candidates)
            scored = [(self._df.get(s, 0), c) for c, s in zip(candidates, stems, strict=True)]
            df, found = max(scored, key=lambda pair: pair[0])
            if df > 0:
                best = found
        if len(self._cache) > 4096:
            self._cache.clear()
        self._cache[lower] = best
        return best if best != lower else word

    def correct(self, query: str) -> str:
        return _WORD.sub(lambda m: self.word(m.group(0)), query)
