"""The retrieval document store: tables of our own in the embedded SQLite database.

* ``rag_urls``: the URL set discovery found (where from, sitemap lastmod);
* ``rag_pages``: per ingested page its title, clean text, content hash and validators;
* ``rag_chunks``: the chunks (title, heading and URL kept with each), keyed by a content id;
* ``rag_links``: the links in each page's main text (anchor text, target URL), so an answer that
  points elsewhere ("See the dyno results.") can be followed to the page that answers;
* ``rag_embeddings``: the embedding cache, keyed by (model hash, chunk hash), so a chunk is
  embedded once per model whatever page or run it appears in;
* ``rag_state``: small facts (the site's origin, the last runs);
* ``rag_correction_hits``: every time a curated correction answered, for audit.

The vectors themselves live in Chroma; the chunks here are the source of truth it is synced to.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from storelink.rag.models import Passage
from storelink.store import EmbeddedStore

__all__ = ["ChunkRow", "KnowledgeStore", "PageRow", "page_id"]

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS rag_urls (
        url TEXT PRIMARY KEY, found_by TEXT NOT NULL, lastmod TEXT, discovered_at REAL NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS rag_pages (
        url TEXT PRIMARY KEY, id TEXT NOT NULL UNIQUE, title TEXT NOT NULL, text TEXT NOT NULL,
        content_sha TEXT NOT NULL, etag TEXT, last_modified TEXT, fetched_at REAL NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS rag_chunks (
        id TEXT PRIMARY KEY, url TEXT NOT NULL, ord INTEGER NOT NULL, title TEXT NOT NULL,
        heading TEXT NOT NULL, text TEXT NOT NULL, sha TEXT NOT NULL, tokens INTEGER NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS rag_chunks_url ON rag_chunks (url, ord)",
    """CREATE TABLE IF NOT EXISTS rag_links (
        url TEXT NOT NULL, anchor TEXT NOT NULL, target TEXT NOT NULL, PRIMARY KEY (url, anchor, target))""",
    """CREATE TABLE IF NOT EXISTS rag_embeddings (
        model TEXT NOT NULL, sha TEXT NOT NULL, vector BLOB NOT NULL, PRIMARY KEY (model, sha))""",
    "CREATE TABLE IF NOT EXISTS rag_state (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS rag_correction_hits (
        at REAL NOT NULL, correction TEXT NOT NULL, question TEXT NOT NULL, how TEXT NOT NULL)""",
)


def page_id(url: str) -> str:
    """A short stable id for a page, for `fetch` by id."""
    return "p-" + hashlib.sha256(url.encode()).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class PageRow:
    url: str
    id: str
    title: str
    text: str
    content_sha: str
    etag: str | None
    last_modified: str | None
    fetched_at: float


@dataclass(frozen=True, slots=True)
class ChunkRow:
    id: str
    url: str
    ord: int
    title: str
    heading: str
    text: str
    sha: str
    tokens: int

    @property
    def indexed_text(self) -> str:
        """What both indexes see: the page title and heading give a short chunk its context."""
        head = self.title if not self.heading or self.heading == self.title else f"{self.title} · {self.heading}"
        return f"{head}\n{self.text}"

    def passage(self, score: float = 0.0, *, lexical_rank: int | None = None, dense_rank: int | None = None) -> Passage:
        """This chunk as a retrieved :class:`Passage` (with its page id, for ``fetch``)."""
        return Passage(
            id=self.id, page_id=page_id(self.url), url=self.url, title=self.title, heading=self.heading,
            text=self.text, score=score, lexical_rank=lexical_rank, dense_rank=dense_rank,
        )  # fmt: skip


class KnowledgeStore:
    """Typed access to the rag_* tables. Writes are grouped in transactions by the callers' unit."""

    def __init__(self, store: EmbeddedStore) -> None:
        self.db = store.db
        for statement in _SCHEMA:
            self.db.execute(statement)

    # -- state -----------------------------------------------------------------------------------
    def get_state(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM rag_state WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def set_state(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO rag_state (key, value) VALUES (?, ?)", (key, value))

    def get_json(self, key: str) -> dict[str, object] | None:
        raw = self.get_state(key)
        return json.loads(raw) if raw else None

    def set_json(self, key: str, value: dict[str, object]) -> None:
        self.set_state(key, json.dumps(value, sort_keys=True))

    # -- the URL set -------------------------------------------------------------------------------
    def replace_urls(self, rows: Iterable[tuple[str, str, str | None]]) -> int:
        """Replace the URL set with ``(url, found_by, lastmod)`` rows; returns how many."""
        now = time.time()
        data = [(url, found_by, lastmod, now) for url, found_by, lastmod in rows]
        self.db.execute("BEGIN")
        try:
            self.db.execute("DELETE FROM rag_urls")
            self.db.executemany(
                "INSERT OR REPLACE INTO rag_urls (url, found_by, lastmod, discovered_at) VALUES (?, ?, ?, ?)", data
            )
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
        return len(data)

    def add_url(self, url: str, found_by: str) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO rag_urls (url, found_by, lastmod, discovered_at) VALUES (?, ?, NULL, ?)",
            (url, found_by, time.time()),
        )

    def remove_url(self, url: str) -> None:
        self.db.execute("DELETE FROM rag_urls WHERE url = ?", (url,))

    def urls(self) -> list[str]:
        return [u for (u,) in self.db.execute("SELECT url FROM rag_urls ORDER BY url")]

    def url_rows(self) -> list[tuple[str, str, str | None]]:
        return list(self.db.execute("SELECT url, found_by, lastmod FROM rag_urls ORDER BY url"))

    # -- pages -------------------------------------------------------------------------------------
    def page(self, url: str) -> PageRow | None:
        row = self.db.execute("SELECT * FROM rag_pages WHERE url = ?", (url,)).fetchone()
        return PageRow(*row) if row else None

    def page_by_id(self, pid: str) -> PageRow | None:
        row = self.db.execute("SELECT * FROM rag_pages WHERE id = ?", (pid,)).fetchone()
        return PageRow(*row) if row else None

    def page_urls(self) -> set[str]:
        return {u for (u,) in self.db.execute("SELECT url FROM rag_pages")}

    def page_count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM rag_pages").fetchone()[0])

    def touch_page(self, url: str, etag: str | None, last_modified: str | None) -> None:
        self.db.execute(
            "UPDATE rag_pages SET etag = ?, last_modified = ?, fetched_at = ? WHERE url = ?",
            (etag, last_modified, time.time(), url),
        )

    def save_page(
        self, page: PageRow, chunks: Sequence[ChunkRow], links: Sequence[tuple[str, str]] = ()
    ) -> tuple[list[str], list[str]]:
        """Store a page, its chunks and the ``(anchor, target URL)`` links of its text; returns
        (chunk ids added, chunk ids removed)."""
        old = {cid for (cid,) in self.db.execute("SELECT id FROM rag_chunks WHERE url = ?", (page.url,))}
        new = {c.id for c in chunks}
        self.db.execute("BEGIN")
        try:
            self.db.execute(
                "INSERT OR REPLACE INTO rag_pages VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (page.url, page.id, page.title, page.text, page.content_sha, page.etag, page.last_modified,
                 page.fetched_at),
            )  # fmt: skip
            self.db.executemany("DELETE FROM rag_chunks WHERE id = ?", [(cid,) for cid in old - new])
            self.db.executemany(
                "INSERT OR REPLACE INTO rag_chunks VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(c.id, c.url, c.ord, c.title, c.heading, c.text, c.sha, c.tokens) for c in chunks],
            )
            self.db.execute("DELETE FROM rag_links WHERE url = ?", (page.url,))
            self.db.executemany(
                "INSERT OR IGNORE INTO rag_links VALUES (?, ?, ?)", [(page.url, a, t) for a, t in links]
            )
            if old != new:
                self._bump_version()
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
        return sorted(new - old), sorted(old - new)

    def delete_page(self, url: str) -> list[str]:
        """Remove a page and its chunks; returns the chunk ids removed."""
        ids = [cid for (cid,) in self.db.execute("SELECT id FROM rag_chunks WHERE url = ?", (url,))]
        self.db.execute("BEGIN")
        try:
            self.db.execute("DELETE FROM rag_chunks WHERE url = ?", (url,))
            self.db.execute("DELETE FROM rag_links WHERE url = ?", (url,))
            self.db.execute("DELETE FROM rag_pages WHERE url = ?", (url,))
            if ids:
                self._bump_version()
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
        return ids

    # -- chunks ------------------------------------------------------------------------------------
    def chunks(self) -> list[ChunkRow]:
        return [ChunkRow(*row) for row in self.db.execute("SELECT * FROM rag_chunks ORDER BY url, ord")]

    def page_chunks(self, url: str) -> list[ChunkRow]:
        rows = self.db.execute("SELECT * FROM rag_chunks WHERE url = ? ORDER BY ord", (url,))
        return [ChunkRow(*row) for row in rows]

    def links_from(self, url: str) -> list[tuple[str, str]]:
        """The ``(anchor, target URL)`` links in the text of the page at ``url``, to pages that are
        ingested (a link to a page not in the index leads nowhere an answer can quote)."""
        rows = self.db.execute(
            "SELECT l.anchor, l.target FROM rag_links l WHERE l.url = ? AND l.target != l.url"
            " AND EXISTS (SELECT 1 FROM rag_pages p WHERE p.url = l.target) ORDER BY l.anchor, l.target",
            (url,),
        )
        return [(str(a), str(t)) for a, t in rows]

    def chunks_by_id(self, ids: Sequence[str]) -> dict[str, ChunkRow]:
        found: dict[str, ChunkRow] = {}
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            marks = ",".join("?" * len(part))
            for row in self.db.execute(f"SELECT * FROM rag_chunks WHERE id IN ({marks})", part):  # noqa: S608
                found[row[0]] = ChunkRow(*row)
        return found

    def chunk_ids(self) -> set[str]:
        return {cid for (cid,) in self.db.execute("SELECT id FROM rag_chunks")}

    def chunk_count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM rag_chunks").fetchone()[0])

    def _bump_version(self) -> None:
        self.db.execute(
            "INSERT INTO rag_state (key, value) VALUES ('chunks_version', '1') "
            "ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
        )

    def chunks_version(self) -> str:
        """Changes whenever the chunk set changes (in any process sharing the database); cheap."""
        return self.get_state("chunks_version") or "0"

    def chunk_digest(self) -> str:
        """A fingerprint of the chunk set: equal digests mean the lexical index needs no rebuild."""
        digest = hashlib.sha256()
        for (cid,) in self.db.execute("SELECT id FROM rag_chunks ORDER BY id"):
            digest.update(cid.encode())
        return digest.hexdigest()

    # -- embedding cache ---------------------------------------------------------------------------
    def cached_vectors(self, model: str, shas: Sequence[str]) -> dict[str, npt.NDArray[np.float32]]:
        found: dict[str, npt.NDArray[np.float32]] = {}
        for start in range(0, len(shas), 500):
            part = list(shas[start : start + 500])
            marks = ",".join("?" * len(part))
            query = f"SELECT sha, vector FROM rag_embeddings WHERE model = ? AND sha IN ({marks})"  # noqa: S608
            for sha, blob in self.db.execute(query, [model, *part]):
                found[sha] = np.frombuffer(blob, dtype=np.float32)
        return found

    def cache_vectors(self, model: str, items: Sequence[tuple[str, npt.NDArray[np.float32]]]) -> None:
        self.db.execute("BEGIN")
        try:
            self.db.executemany(
                "INSERT OR REPLACE INTO rag_embeddings (model, sha, vector) VALUES (?, ?, ?)",
                [(model, sha, np.asarray(vec, dtype=np.float32).tobytes()) for sha, vec in items],
            )
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- corrections audit -------------------------------------------------------------------------
    def log_correction(self, correction: str, question: str, how: str) -> None:
        self.db.execute(
            "INSERT INTO rag_correction_hits (at, correction, question, how) VALUES (?, ?, ?, ?)",
            (time.time(), correction, question[:500], how),
        )

    def correction_hits(self) -> list[tuple[float, str, str, str]]:
        return list(self.db.execute("SELECT at, correction, question, how FROM rag_correction_hits ORDER BY at"))
