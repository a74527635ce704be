"""``embed``: sentence embeddings into the run's cache, a key column on every record."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa

from ...errors import InputError
from ...params import Param
from ..base import GlobalOp, KeyParts, OpContext, RowResult
from ..columns import float_matrix, set_column
from ..registry import register_op
from .cache import EmbeddingCache, content_keys, keys_from_binary, keys_to_binary, keys_to_hex
from .encoders import l2_normalize, load_encoder, model_id

__all__ = ["Embed", "EMBEDDING_KEY", "PRECOMPUTED_MODEL"]

#: The column that links a record to its vector in the cache.
EMBEDDING_KEY = "th_embedding_key"
PRECOMPUTED_MODEL = "precomputed"


@register_op("embed")
class Embed(GlobalOp):
    """Embed each record's text (L2-normalized) into the embedding cache and write its cache key.

    ``model``: ``minilm`` (all-MiniLM-L6-v2, Reimers & Gurevych 2019, bundled, 384 dims),
    ``static`` (static token embeddings distilled from that MiniLM with model2vec, Tulkens &
    van Dongen 2024: ~100x faster on CPU, less accurate; built at first use and cached), or a
    local sentence-transformers directory. ``precomputed: <column>`` takes the vectors from a
    list column instead (no model runs). Vectors are stored once in the cache
    (``executor.cache_dir``), keyed by a hash of (model, dtype, text), so a rerun or another
    recipe over the same texts encodes nothing again; records get only the
    ``th_embedding_key`` column, which the clustering and semantic-dedup ops read. Texts are
    encoded in length-sorted batches; a chunk's vectors reach the cache when it finishes, or
    sooner after ``FLUSH_SECONDS`` (10 s) of encoding, so a killed run resumes with what is
    missing. With progress on, a bar shows the records encoded, records/s and the ETA.

    Examples
    --------
    >>> from thresher.ops.examples import try_op
    >>> rows = [{"id": "a", "text": "hello", "vec": [1.0, 0.0]}, {"id": "b", "text": "hi", "vec": [2.0, 0.0]},
    ...         {"id": "c", "text": "bye", "vec": [0.0, 1.0]}]
    >>> t = try_op(Embed(precomputed="vec"), rows)  # or Embed(model="minilm") on the text
    >>> keys = t.column("th_embedding_key")  # vectors are unit length: a and b share theirs
    >>> t.kept, keys[0] == keys[1] != keys[2], len(keys[0])
    (['a', 'b', 'c'], True, 32)
    """

    annotates = True
    writes = (EMBEDDING_KEY,)
    params = {
        "model": Param(str, "minilm", "minilm, static, or a local sentence-transformers directory"),
        "precomputed": Param(str, None, "a list column holding the vectors; no model runs", nullable=True),
        "batch_size": Param(int, 32, "texts per forward pass", low=1),
        "dtype": Param(str, "float32", "storage type of the cached vectors", choices=("float32", "float16")),
        "pca_dims": Param(int, 256, "dimensions of the static encoder (PCA of the distilled token vectors)",
                          low=2, high=384),
        "chunk": Param(int, 4096, "texts encoded and written to the cache at a time", low=1),
    }

    def holds(self) -> str:
        return "id, cache key and text per record (texts are read in chunks to encode the misses)"

    def memory_bytes(self, records: int, record_bytes: float) -> int:
        return records * 64 + self.chunk * int(record_bytes + 4 * 384) + 600 * 2**20  # keys, a chunk, the model

    @property
    def model_id(self) -> str:
        base = PRECOMPUTED_MODEL if self.precomputed else model_id(self.model, self.pca_dims)
        return f"{base}:{self.dtype}"

    def key_columns(self) -> list[str]:
        return ["id", self.precomputed or "text"]

    # --- per shard ---------------------------------------------------------------------------
    def _contents(self, batch: pa.RecordBatch) -> tuple[list, pa.Array]:
        """What is hashed (texts, or the normalized vectors' bytes) and what is encoded."""
        if not self.precomputed:
            texts = batch.column("text")
            return texts.to_pylist(), texts
        vectors = precomputed_vectors(batch, self.precomputed, self.name)
        column = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), vectors.shape[1]) \
            if vectors.size else pa.array([], pa.list_(pa.float32(), max(vectors.shape[1], 1)))
        return [row.tobytes() for row in vectors], column

    def keys(self, batch: pa.RecordBatch, ctx: OpContext) -> pa.Table:
        hashed, content = self._contents(batch)
        keys = content_keys(self.model_id, hashed)
        return pa.table({"id": batch.column("id"), "key": keys_to_binary(keys), "content": content})

    def content_keys_of(self, batch: pa.RecordBatch) -> np.ndarray:
        """The cache keys of the batch's records under this step's model (what ``apply`` writes)."""
        hashed, _ = self._contents(batch)
        return content_keys(self.model_id, hashed)

    def apply(self, batch: pa.RecordBatch, decisions: pa.Table, ctx: OpContext) -> RowResult:
        return RowResult(set_column(batch, EMBEDDING_KEY, keys_to_hex(self.content_keys_of(batch))))

    # --- over all records ------------------------------------------------------------------
    def decide(self, keys: KeyParts | pa.Table, ctx: OpContext) -> pa.Table:
        parts = KeyParts.of(keys)
        cache = EmbeddingCache(ctx.cache_dir, self.model_id)
        start = time.perf_counter()
        misses = _misses(parts, cache)
        todo = _Pending(self, cache, ctx, total=sum(len(rows) for _, rows in misses))
        try:
            for offset, rows in misses:
                todo.extend(parts.take(rows + offset, ["key", "content"]))
            todo.flush()
        finally:
            todo.close()
        seconds = time.perf_counter() - start
        ctx.info.update({"model": self.model_id, "cache": str(cache.dir), "records": parts.num_rows,
                         "encoded": todo.encoded, "cache_hits": parts.num_rows - todo.encoded,
                         "encode_seconds": round(todo.seconds, 3), "model_load_seconds": round(todo.load_seconds, 3),
                         "seconds": round(seconds, 3),
                         "encoded_per_second": round(todo.encoded / todo.seconds, 1) if todo.seconds else None})
        return pa.table({"id": pa.array([], pa.string()), "reason": pa.array([], pa.string())})


def _misses(parts: KeyParts, cache: EmbeddingCache) -> list[tuple[int, np.ndarray]]:
    """Per part, its offset and the rows whose key is neither in the cache nor met before
    (each distinct content is encoded once): what is left to encode, counted before any is."""
    misses, queued = [], set()
    for offset, table in parts.iter(["key"]):
        keys_here = keys_from_binary(table.column("key"))
        new = [i for i in np.flatnonzero(~cache.contains(keys_here)).tolist()
               if keys_here[i].tobytes() not in queued]
        if new:
            queued.update(keys_here[i].tobytes() for i in new)
            misses.append((offset, np.asarray(new, np.int64)))
    return misses


class _Pending:
    """Contents waiting to be encoded; every ``chunk`` of them goes to the cache, encoded here
    (a segment at the chunk's end, or sooner after ``FLUSH_SECONDS`` of encoding), or, on a
    cluster (``ctx.distributed``), by the workers a wave of chunks at a time (each worker
    process loads the model once and keeps it for its later chunks). A bar (records/s, ETA)
    follows every encoded batch when ``ctx.progress``."""

    def __init__(self, op: Embed, cache: EmbeddingCache, ctx: OpContext, total: int) -> None:
        from tqdm import tqdm

        self.op, self.cache, self.ctx = op, cache, ctx
        self.keys: list[bytes] = []
        self.contents: list = []
        self.encoded, self.seconds, self.load_seconds = 0, 0.0, 0.0
        self._wave: list[tuple] = []
        self._bar = tqdm(total=total, desc=f"  {ctx.step or 'embed'} (encode)", unit="rec", unit_scale=True,
                         file=sys.stderr, disable=not (ctx.progress and total), dynamic_ncols=True)

    def extend(self, rows: pa.Table) -> None:
        self.keys.extend(rows.column("key").to_pylist())
        self.contents.extend(rows.column("content").to_pylist())
        while len(self.keys) >= self.op.chunk:
            self._take(self.op.chunk)

    def flush(self) -> None:
        while self.keys:
            self._take(min(len(self.keys), self.op.chunk))
        self._run_wave()

    def close(self) -> None:
        self._bar.close()

    def _take(self, n: int) -> None:
        item = (self.op, str(self.ctx.cache_dir), b"".join(self.keys[:n]), self.contents[:n])
        del self.keys[:n], self.contents[:n]
        if not (self.ctx.distributed and not self.op.precomputed):
            self._done([encode_chunk(item, self._bar.update)], shown=True)
            return
        self._wave.append(item)
        if len(self._wave) >= 2 * max(1, self.ctx.workers):
            self._run_wave()

    def _run_wave(self) -> None:
        wave, self._wave = self._wave, []
        if wave:
            self._done(self.ctx.map(encode_chunk, wave))

    def _done(self, results: list[tuple[int, float, float]], shown: bool = False) -> None:
        for n, seconds, load_seconds in results:
            self.encoded += n
            self.seconds += seconds
            self.load_seconds += load_seconds
            if not shown:
                self._bar.update(n)


#: A chunk encoded here reaches the cache at its end, or as a segment after this many seconds
#: of encoding, whichever comes first: a killed run loses at most that much work.
FLUSH_SECONDS = 10.0


def encode_chunk(item: tuple, progress: Callable[[int], object] | None = None) -> tuple[int, float, float]:
    """Encode one chunk ``(op, cache_dir, keys, contents)`` into the cache, a batch at a time
    (``progress(n)`` after each), writing a segment every ``FLUSH_SECONDS`` and at the end;
    returns the records, the seconds encoding and the seconds loading the model."""
    op, cache_dir, keys, contents = item
    keys, cache = np.frombuffer(keys, dtype="V16"), EmbeddingCache(Path(cache_dir), op.model_id)
    if op.precomputed:
        t0 = time.perf_counter()
        cache.add(keys, np.asarray(contents, dtype=np.float32).astype(op.dtype))
        return len(contents), time.perf_counter() - t0, 0.0
    t0 = time.perf_counter()  # loading (or, once, distilling) the model is not encoding
    encoder = load_encoder(op.model, cache_dir, op.pca_dims)
    load_seconds, start = time.perf_counter() - t0, time.perf_counter()
    order = np.argsort([-len(t) for t in contents], kind="stable")  # similar lengths share a batch
    step, n, done = encoder.batch_texts(op.batch_size), len(order), 0
    while done < n:
        flushed, vectors, end = time.perf_counter(), [], done
        while end < n and (end == done or time.perf_counter() - flushed < FLUSH_SECONDS):
            rows = order[end:end + step]
            vectors.append(encoder.encode([contents[i] for i in rows], op.batch_size))
            end += len(rows)
            if progress is not None:
                progress(len(rows))
        cache.add(keys[order[done:end]], np.concatenate(vectors).astype(op.dtype))
        done = end
    return len(contents), time.perf_counter() - start, load_seconds


def precomputed_vectors(batch: pa.RecordBatch, column: str, op_name: str) -> np.ndarray:
    """The L2-normalized float32 rows of a list column, or an error naming the column."""
    if column not in batch.schema.names:
        raise InputError(f"{op_name}.precomputed: no column {column!r}; columns: {batch.schema.names}")
    return l2_normalize(float_matrix(batch.column(column), f"{op_name}.precomputed: column {column!r}"))


def embed_texts(texts: list[str], model: str, cache_dir, *, pca_dims: int = 256, batch_size: int = 32,
                dtype: str = "float32", chunk: int = 4096) -> np.ndarray:
    """The L2-normalized vectors of ``texts`` (float32), through the same cache as the embed op:
    what an ``embed`` step (or an earlier call) encoded is not encoded again."""
    mid = f"{model_id(model, pca_dims)}:{dtype}"
    cache = EmbeddingCache(cache_dir, mid)
    keys = content_keys(mid, texts)
    missing = np.flatnonzero(~cache.contains(keys))
    if missing.size:
        _, first = np.unique(keys[missing], return_index=True)  # each distinct text once
        todo = missing[np.sort(first)]
        todo = todo[np.argsort([-len(texts[i]) for i in todo], kind="stable")]  # similar lengths share a batch
        encoder = load_encoder(model, str(cache_dir), pca_dims)
        for start in range(0, len(todo), chunk):  # each chunk reaches the cache as it finishes
            rows = todo[start:start + chunk]
            cache.add(keys[rows], encoder.encode([texts[i] for i in rows], batch_size).astype(dtype))
    return cache.get(keys)
