"""Where dense vectors live: Chroma (embedded ``PersistentClient``, or a server), or memory.

We hand Chroma our own embeddings and never its embedding function: its default one downloads
a model on first use (rag.md §6.4). Telemetry is off. Only ids, vectors and the page URL go in;
the text stays in SQLite, which keeps Chroma's full-text index (86 MB per 50k docs) empty.

Chroma is thread-safe but not process-safe (rag.md §6.6): one process writes the embedded store;
several replicas share a ``chroma run`` server through ``STORELINK_CHROMA_URL``.

**Queries of the embedded store are answered from memory.** Measured on 11,312 chunks (2 cores,
``bench/rag.py``): a dense query is the question's embedding (~5-9 ms, most of it) plus Chroma's
HNSW top 100 (~3-12 ms, with Python and SQLite around it), where an exact dot product over the
same vectors in numpy takes ~1-2 ms and returns the same top 10. So the embedded store keeps a
copy of its vectors in a numpy matrix (1.5 KB a chunk: 15 MB at 10k) and queries that; Chroma
stays the store of record and the copy is loaded from it on the first query. Every write of an
embedded store goes through this object (it is one process's), so the copy cannot go stale. A
``chroma run`` server is shared by replicas that write it too, so its queries go to the server;
so do those of a store over :data:`MIRROR_LIMIT` vectors, where the HNSW graph earns its keep.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import numpy as np
import numpy.typing as npt

from storelink.errors import ConfigurationError

__all__ = ["MIRROR_LIMIT", "ChromaVectors", "MemoryVectors", "VectorStore", "open_chroma"]

MIRROR_LIMIT = 100_000  # vectors; 150 MB of float32 at 384 dimensions

Vectors = npt.NDArray[np.float32]


class VectorStore(Protocol):
    def upsert(self, ids: Sequence[str], vectors: Vectors, urls: Sequence[str]) -> None: ...

    def delete(self, ids: Sequence[str]) -> None: ...

    def ids(self) -> set[str]: ...

    def query(self, vector: Vectors, k: int) -> list[tuple[str, float]]:
        """Top ``k`` ``(id, cosine similarity)``, best first."""
        ...


class MemoryVectors:
    """Exact cosine search in numpy: evaluations and tests, where a store would add nothing."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._ids: list[str] = []
        self._pos: dict[str, int] = {}
        self._matrix = np.zeros((0, dim), dtype=np.float32)

    def upsert(self, ids: Sequence[str], vectors: Vectors, urls: Sequence[str]) -> None:
        fresh: list[int] = []
        for i, doc_id in enumerate(ids):
            if doc_id in self._pos:
                self._matrix[self._pos[doc_id]] = vectors[i]
            else:
                fresh.append(i)
        if fresh:
            for i in fresh:
                self._pos[ids[i]] = len(self._ids)
                self._ids.append(ids[i])
            self._matrix = np.vstack([self._matrix, vectors[fresh]]).astype(np.float32)

    def delete(self, ids: Sequence[str]) -> None:
        drop = {self._pos[i] for i in ids if i in self._pos}
        if not drop:
            return
        keep = [p for p in range(len(self._ids)) if p not in drop]
        self._ids = [self._ids[p] for p in keep]
        self._matrix = self._matrix[keep]
        self._pos = {doc_id: p for p, doc_id in enumerate(self._ids)}

    def ids(self) -> set[str]:
        return set(self._ids)

    def query(self, vector: Vectors, k: int) -> list[tuple[str, float]]:
        if not self._ids:
            return []
        scores = self._matrix @ vector.astype(np.float32)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self._ids[i], float(scores[i])) for i in top]


class ChromaVectors:
    """One Chroma collection per embedding model (dimension and distance are fixed at creation).
    ``mirror``: answer queries from an in-memory copy (only for a store no other process writes)."""

    def __init__(self, collection: Any, *, mirror: bool = False, mirror_limit: int = MIRROR_LIMIT) -> None:
        self._collection = collection
        self._mirror_wanted = mirror
        self._mirror_limit = mirror_limit
        self._mirror: MemoryVectors | None = None
        self._lock = threading.Lock()

    @property
    def mirrored(self) -> bool:
        return self._mirror is not None

    def _load_mirror(self) -> MemoryVectors | None:
        """The in-memory copy, read from Chroma on first use; None when not wanted or too large."""
        if self._mirror is not None or not self._mirror_wanted:
            return self._mirror
        with self._lock:
            if self._mirror is None and self._mirror_wanted:
                count = self._collection.count()
                if count > self._mirror_limit:
                    self._mirror_wanted = False
                    return None
                mirror: MemoryVectors | None = None
                for offset in range(0, max(count, 1), 4000):
                    found = self._collection.get(include=["embeddings"], limit=4000, offset=offset)
                    if not found["ids"]:
                        break
                    matrix = np.asarray(found["embeddings"], dtype=np.float32)
                    if mirror is None:
                        mirror = MemoryVectors(matrix.shape[1])
                    mirror.upsert(found["ids"], matrix, [""] * len(found["ids"]))
                self._mirror = mirror if mirror is not None else MemoryVectors(0)
            return self._mirror

    def upsert(self, ids: Sequence[str], vectors: Vectors, urls: Sequence[str]) -> None:
        for start in range(0, len(ids), 4000):
            end = start + 4000
            self._collection.upsert(
                ids=list(ids[start:end]),
                embeddings=vectors[start:end],
                metadatas=[{"url": u} for u in urls[start:end]],
            )
        if self._mirror is not None and len(ids):
            if self._mirror.dim == 0:  # loaded from an empty store: now the dimension is known
                self._mirror = MemoryVectors(vectors.shape[1])
            self._mirror.upsert(ids, vectors, urls)

    def delete(self, ids: Sequence[str]) -> None:
        if ids:
            self._collection.delete(ids=list(ids))
            if self._mirror is not None:
                self._mirror.delete(ids)

    def ids(self) -> set[str]:
        return set(self._collection.get(include=[])["ids"])

    def query(self, vector: Vectors, k: int) -> list[tuple[str, float]]:
        mirror = self._load_mirror()
        if mirror is not None:
            return mirror.query(vector, k)
        count = self._collection.count()
        if count == 0:
            return []
        found = self._collection.query(query_embeddings=[vector], n_results=min(k, count), include=["distances"])
        return [(doc_id, 1.0 - float(d)) for doc_id, d in zip(found["ids"][0], found["distances"][0], strict=True)]


def open_chroma(*, data_dir: Path, chroma_url: str | None, model_id: str) -> ChromaVectors:
    """The collection for ``model_id``: on the server at ``chroma_url``, else embedded in the data dir."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    settings = ChromaSettings(anonymized_telemetry=False)
    if chroma_url:
        parts = urlsplit(chroma_url)
        if not parts.hostname:
            raise ConfigurationError(f"STORELINK_CHROMA_URL must be http(s)://host:port, not {chroma_url!r}.")
        client: Any = chromadb.HttpClient(
            host=parts.hostname,
            port=parts.port or (443 if parts.scheme == "https" else 8000),
            ssl=parts.scheme == "https",
            settings=settings,
        )
    else:
        path = data_dir / "chroma"
        path.mkdir(parents=True, exist_ok=True)
        client = chromadb.PersistentClient(path=str(path), settings=settings)
    collection = client.get_or_create_collection(
        f"site-chunks-{model_id}", embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
    )
    return ChromaVectors(collection, mirror=not chroma_url)
