"""Chunking by headings, with overlap, sized for the embedding model.

A page's Markdown is cut into sections at its headings. Whole sections are packed into chunks of
up to ``target`` tokens (a FAQ's short answers share a chunk; a guide's long section stands
alone); a section longer than ``limit`` is cut into sentence windows that overlap by about 15 %.
Tokens are counted with the embedding model's own tokenizer when it is installed, because
MiniLM silently drops everything past 256 word-pieces (rag.md §5): ``limit`` stays below that,
with room for the title and heading each chunk is embedded with.

Chunk ids hash the URL, the text and the chunker's version, so an unchanged chunk keeps its id
across runs and an edited one gets a new id.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["CHUNKER_VERSION", "ChunkDraft", "TokenCounter", "chunk_id", "chunk_markdown", "word_counter"]

CHUNKER_VERSION = "c1"
TokenCounter = Callable[[str], int]

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


def word_counter(text: str) -> int:
    """Word-piece estimate without the tokenizer: about 4 pieces per 3 words of English."""
    return (len(text.split()) * 4 + 2) // 3


@dataclass(frozen=True, slots=True)
class ChunkDraft:
    ord: int
    heading: str
    text: str
    tokens: int


@dataclass(slots=True)
class _Section:
    heading: str
    lines: list[str]

    @property
    def body(self) -> str:
        return "\n\n".join(block for block in "\n".join(self.lines).split("\n\n") if block.strip()).strip()


def _sections(markdown: str, title: str) -> list[_Section]:
    sections = [_Section(title, [])]
    trail: dict[int, str] = {}
    for line in markdown.splitlines():
        match = _HEADING.match(line)
        if match is None:
            sections[-1].lines.append(line.rstrip())
            continue
        level, text = len(match.group(1)), match.group(2).strip()
        trail = {lv: t for lv, t in trail.items() if lv < level}
        trail[level] = text
        if level == 1 and text == title:
            continue  # the page title: already carried by every chunk
        path = [trail[lv] for lv in sorted(trail) if lv > 1] or [text]
        sections.append(_Section(" › ".join(path[-2:]), []))
    return [s for s in sections if s.body]


def _windows(text: str, limit: int, count: TokenCounter) -> list[str]:
    """Cut a long text into windows of whole sentences (or list lines) of at most ``limit`` tokens,
    each starting with the last ~15 % of the one before."""
    sentences = [s for line in text.splitlines() for s in _SENTENCE.split(line) if s.strip()]
    windows: list[str] = []
    current: list[str] = []
    size = 0
    overlap = max(1, limit * 15 // 100)
    for sentence in sentences:
        n = count(sentence)
        if current and size + n > limit:
            windows.append("\n".join(current))
            carried: list[str] = []
            carried_size = 0
            for prev in reversed(current):
                c = count(prev)
                if carried_size + c > overlap:
                    break
                carried.insert(0, prev)
                carried_size += c
            current, size = carried, carried_size
        if n > limit:  # one giant sentence: cut by words
            words = sentence.split()
            step = max(1, limit * 3 // 4)
            for start in range(0, len(words), step):
                windows.append(" ".join(words[start : start + step]))
            current, size = [], 0
            continue
        current.append(sentence)
        size += n
    if current:
        windows.append("\n".join(current))
    return windows


def chunk_markdown(
    markdown: str, *, title: str, count: TokenCounter = word_counter, target: int = 150, limit: int = 200
) -> list[ChunkDraft]:
    """Chunks of one page, in page order; duplicate texts on one page are kept once."""
    drafts: list[tuple[str, str]] = []
    pending_heading = ""
    pending: list[str] = []
    pending_size = 0

    def flush() -> None:
        nonlocal pending, pending_size, pending_heading
        if pending:
            drafts.append((pending_heading, "\n\n".join(pending)))
        pending, pending_size, pending_heading = [], 0, ""

    for section in _sections(markdown, title):
        body = section.body
        size = count(body)
        block = body if section.heading == title else f"{section.heading}\n{body}"
        if size > limit:
            flush()
            for window in _windows(body, limit, count):
                drafts.append((section.heading, window))
            continue
        if pending and pending_size + size > target:
            flush()
        if not pending:
            pending_heading = section.heading
        pending.append(block)
        pending_size += size
    flush()

    seen: set[str] = set()
    chunks: list[ChunkDraft] = []
    for heading, text in drafts:
        if text in seen:
            continue
        seen.add(text)
        chunks.append(ChunkDraft(ord=len(chunks), heading=heading, text=text, tokens=count(text)))
    return chunks


def chunk_id(url: str, text: str, counter_name: str) -> str:
    raw = f"{CHUNKER_VERSION}|{counter_name}|{url}|{text}".encode()
    return hashlib.sha256(raw).hexdigest()[:32]
