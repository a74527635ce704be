"""The embedding cache: vectors keyed by a 128-bit hash of (model, content), shared by runs.

A cache directory holds, per model, append-only *segments*: Arrow IPC files with a ``key``
column (16 bytes) and a ``vector`` column (fixed-size lists of float32 or float16). Writers
add whole segments atomically (write, then rename), so concurrent runs never corrupt it and a
run killed mid-way loses at most the segment it was writing. Readers memory-map the segments:
the index holds 16 bytes per vector, and a vector's bytes are read only when asked for.

Examples
--------
>>> import tempfile
>>> cache = EmbeddingCache(Path(tempfile.mkdtemp()), "demo-model")
>>> keys = content_keys("demo-model", ["a", "b"])
>>> _ = cache.add(keys, np.eye(2, dtype=np.float32))
>>> cache.contains(keys).tolist(), cache.get(keys[::-1]).tolist()
([True, True], [[0.0, 1.0], [1.0, 0.0]])
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import pyarrow as pa
import xxhash

from ...errors import InputError
from ...io.writers import atomic_path

__all__ = ["EmbeddingCache", "content_keys", "keys_from_hex", "keys_to_hex", "keys_to_binary", "keys_from_binary",
           "KEY_BYTES"]

KEY_BYTES = 16
_KEY = np.dtype("V16")


def content_keys(model_id: str, contents: Sequence[str | bytes]) -> np.ndarray:
    """The cache key of each content (a text, or a vector's bytes) under ``model_id``: the
    xxh3-128 of ``model_id``, a NUL byte and the content (UTF-8), as 16 big-endian bytes."""
    prefix = model_id.encode() + b"\0"
    out = bytearray(KEY_BYTES * len(contents))
    for i, content in enumerate(contents):
        data = content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass")
        out[KEY_BYTES * i:KEY_BYTES * (i + 1)] = xxhash.xxh3_128_digest(prefix + data)
    return np.frombuffer(bytes(out), dtype=_KEY)


def keys_to_binary(keys: np.ndarray) -> pa.Array:
    """Keys as a 16-byte fixed-size binary column (zero-copy)."""
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(KEY_BYTES), len(keys), [None, pa.py_buffer(keys.tobytes())])


def keys_from_binary(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """The inverse of ``keys_to_binary``."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    return np.frombuffer(column.buffers()[1], dtype=_KEY, count=len(column), offset=column.offset * KEY_BYTES)


def keys_to_hex(keys: np.ndarray) -> pa.Array:
    """Keys as 32-character hex strings (the ``th_embedding_key`` column)."""
    flat = keys.tobytes().hex()
    return pa.array([flat[32 * i:32 * (i + 1)] for i in range(len(keys))], pa.string())


def keys_from_hex(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """The inverse of ``keys_to_hex``; a malformed value is an ``InputError``."""
    values = column.to_pylist()
    try:
        if any(v is None or len(v) != 32 for v in values):
            raise ValueError
        return np.frombuffer(bytes.fromhex("".join(values)), dtype=_KEY)
    except ValueError:
        bad = next((v for v in values if v is None or len(v) != 32 or not _HEX.fullmatch(v)), None)
        raise InputError(f"th_embedding_key must hold 32-character hex keys written by the embed op; "
                         f"found {bad!r}.") from None


_HEX = re.compile(r"[0-9a-fA-F]{32}")


class EmbeddingCache:
    """The segments of one model in ``root`` (or, for reading, of every model when
    ``model_id`` is None: a key names its model): ``contains``, ``get`` and ``add`` by key."""

    def __init__(self, root: Path, model_id: str | None = None) -> None:
        self.root = Path(root) / "embeddings"
        self.model_id = model_id
        self.dir = self.root / _model_dirname(model_id) if model_id is not None else self.root
        self._index: tuple[np.ndarray, np.ndarray, np.ndarray, list[Path]] | None = None

    # --- reading ----------------------------------------------------------------------------
    def segments(self) -> list[Path]:
        pattern = "seg-*.arrow" if self.model_id is not None else "*/seg-*.arrow"
        return sorted(self.dir.glob(pattern)) if self.dir.exists() else []

    def _load_index(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[Path]]:
        if self._index is None:
            paths = self.segments()
            keys, seg, row = [], [], []
            for s, path in enumerate(paths):
                with pa.memory_map(str(path)) as source:
                    table = pa.ipc.open_file(source).read_all()
                k = keys_from_binary(table.column("key"))
                keys.append(k)
                seg.append(np.full(len(k), s, np.int32))
                row.append(np.arange(len(k), dtype=np.int64))
            all_keys = np.concatenate(keys) if keys else np.zeros(0, _KEY)
            order = np.argsort(all_keys, kind="stable")
            self._index = (all_keys[order], np.concatenate(seg)[order] if seg else np.zeros(0, np.int32),
                           np.concatenate(row)[order] if row else np.zeros(0, np.int64), paths)
        return self._index

    def _find(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions of ``keys`` in the index, and whether each is there."""
        sorted_keys = self._load_index()[0]
        pos = np.searchsorted(sorted_keys, keys)
        found = pos < len(sorted_keys)
        found[found] = sorted_keys[pos[found]] == keys[found]
        return pos, found

    def __len__(self) -> int:
        return len(self._load_index()[0])

    def contains(self, keys: np.ndarray) -> np.ndarray:
        return self._find(keys)[1]

    def get(self, keys: np.ndarray, dtype=np.float32) -> np.ndarray:
        """The vectors of ``keys`` (in that order) as one ``(len(keys), dim)`` array."""
        pos, found = self._find(keys)
        if not found.all():
            raise InputError(
                f"{int((~found).sum())} embeddings are missing from the cache {self.dir} (was it deleted "
                "after the embed step ran?). Run again with --fresh to recompute them.")
        _, seg, row, paths = self._load_index()
        seg, row = seg[pos], row[pos]
        out = None
        for s in np.unique(seg):
            rows = np.flatnonzero(seg == s)
            vectors = _read_vectors(paths[s], row[rows])
            if out is None:
                out = np.empty((len(keys), vectors.shape[1]), dtype=dtype)
            out[rows] = vectors
        return out if out is not None else np.zeros((0, 0), dtype)

    # --- writing ----------------------------------------------------------------------------
    def add(self, keys: np.ndarray, vectors: np.ndarray) -> Path:
        """Write one segment (atomically) holding ``keys`` and their ``vectors``."""
        if self.model_id is None:
            raise ValueError("a cache opened for every model is read-only")
        if len(keys) != len(vectors):
            raise ValueError("keys and vectors differ in length")
        self.dir.mkdir(parents=True, exist_ok=True)
        vectors = np.ascontiguousarray(vectors)
        flat = pa.array(vectors.reshape(-1))
        table = pa.table({"key": keys_to_binary(keys),
                          "vector": pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1])})
        path = self.dir / f"seg-{time.time_ns():020d}-{os.getpid()}.arrow"
        tmp = atomic_path(path)
        with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        os.replace(tmp, path)
        self._index = None
        return path


def _model_dirname(model_id: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", model_id)[:80]
    return f"{slug}-{xxhash.xxh3_64_hexdigest(model_id.encode())[:8]}"


def _read_vectors(path: Path, rows: np.ndarray) -> np.ndarray:
    with pa.memory_map(str(path)) as source:
        column = pa.ipc.open_file(source).read_all().column("vector").combine_chunks()
        dim = column.type.list_size
        values = column.values.to_numpy(zero_copy_only=False).reshape(-1, dim)
        return values[rows].astype(np.float32)
