"""Where dense vectors live: Chroma (embedded ``PersistentClient``, or a server), or memory.

We hand Chroma our own embeddings and never its embedding function: its default one downloads
a model on first use (rag.md §6.4). Telemetry is off. Only ids, vectors and the page URL go in;
the text stays in SQLite, which keeps Chroma's full-text index (86 MB per 50k docs) empty.

Chroma is thread-safe but not process-safe (rag.md §6.6): one process writes the embedded store;
several replicas share a ``chroma run`` server through ``STORELINK_CHROMA_URL``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import numpy as np
import numpy.typing as npt

from storelink.errors import ConfigurationError

__all__ = ["ChromaVectors", "MemoryVectors", "VectorStore", "open_chroma"]

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
    """One Chroma collection per embedding model (dimension and distance are fixed at creation)."""

    def __init__(self, collection: Any) -> None:
        self._collection = collection

    def upsert(self, ids: Sequence[str], vectors: Vectors, urls: Sequence[str]) -> None:
        for start in range(0, len(ids), 4000):
            end = start + 4000
            self._collection.upsert(
                ids=list(ids[start:end]),
                embeddings=vectors[start:end],
                metadatas=[{"url": u} for u in urls[start:end]],
            )

    def delete(self, ids: Sequence[str]) -> None:
        if ids:
            self._collection.delete(ids=list(ids))

    def ids(self) -> set[str]:
        return set(self._collection.get(include=[])["ids"])

    def query(self, vector: Vectors, k: int) -> list[tuple[str, float]]:
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
    return ChromaVectors(collection)
