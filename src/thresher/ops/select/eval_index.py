"""The n-gram index of an evaluation set, for ``decontaminate``: every word n-gram of every
eval item as a 64-bit hash, sorted, with each item that holds it.

Texts are normalized and hashed as ``dedup_minhash`` does its word shingles (NFKC, lowercase,
punctuation and symbols to spaces: the normalization of GPT-3's and lm-evaluation-harness's
13-gram overlap check; one compiled pass over the UTF-8 bytes, ``lsh.word_ngrams``). A
record's n-grams go through a bitmap of the index's top hash bits (about one in sixteen
absent n-grams passes), then ``np.searchsorted`` in the sorted hashes.

An index is built once per process (and kept for the next batches and tasks), or, with a
cache directory, once for all processes and runs: saved as ``.npy`` files that every worker
memory-maps, under a file lock so that only one process builds it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ...errors import InputError, RecipeError
from ...io.files import content_hash
from ...io.readers import ReadOptions, read_batches
from ..dedup.lsh import word_ngrams
from ..text.ngrams import word_chunks

__all__ = ["EvalIndex", "IndexSpec", "DocNgrams", "doc_ngrams", "load_index"]

log = logging.getLogger("thresher.ops.select.eval_index")

_FORMAT = 2


@dataclass
class DocNgrams:
    """The n-grams of a batch of texts, in document order: ``hashes[k]`` starts at word
    ``start[k]`` of document ``doc[k]``; ``words[d]`` is document ``d``'s word count."""

    hashes: np.ndarray
    doc: np.ndarray
    start: np.ndarray
    words: np.ndarray


def doc_ngrams(texts: pa.Array, n: int) -> DocNgrams:
    """Normalize, split into words, hash every word ``n``-gram of each text."""
    return DocNgrams(*word_ngrams(texts, n))


@dataclass(frozen=True)
class IndexSpec:
    """What an index is built from; ``key`` changes when a file or a setting does."""

    paths: tuple[str, ...]
    n: int
    text_field: str = "text"
    id_field: str | None = None
    owner: str = "decontaminate.eval"

    def names(self) -> list[str]:
        """The files as reports name them: relative to their common folder (a lone file: its name)."""
        parents = [os.path.dirname(os.path.abspath(p)) for p in self.paths]
        root = os.path.commonpath(parents) if len(set(parents)) > 1 else parents[0]
        return [os.path.relpath(os.path.abspath(p), root) for p in self.paths]

    def check_files(self) -> None:
        """A ``RecipeError`` naming the first eval file that does not exist."""
        for p in self.paths:
            if not Path(p).exists():
                raise RecipeError(f"{self.owner}: eval file {p!r} does not exist; give the path of a JSONL, "
                                  "Parquet, CSV or Arrow file of eval items (relative to the recipe).")

    def key(self) -> str:
        self.check_files()
        files = [(os.path.abspath(p), content_hash(Path(p))) for p in self.paths]  # content, not mtime
        blob = json.dumps([_FORMAT, self.n, self.text_field, self.id_field, files])
        return hashlib.sha256(blob.encode()).hexdigest()[:32]


@dataclass
class EvalIndex:
    """The distinct ``(hash, item)`` pairs of the eval set's n-grams, sorted: ``hashes`` (an
    n-gram held by several items repeats) and ``items``; ``ids[i]`` and ``files[file_of[i]]``
    name item ``i``."""

    hashes: np.ndarray
    items: np.ndarray
    ids: pa.Array
    file_of: np.ndarray
    files: list[str]
    n: int
    bits: int = field(init=False)
    bitmap: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.bits = int(np.clip(np.ceil(np.log2(max(len(self.hashes), 1))) + 4, 16, 36))
        top = np.asarray(self.hashes) >> np.uint64(64 - self.bits)  # sorted, as the hashes are
        byte, bit = top >> np.uint64(3), (top & np.uint64(7)).astype(np.uint8)
        self.bitmap = np.zeros(1 << (self.bits - 3), np.uint8)
        if len(top):
            first = np.flatnonzero(np.r_[True, byte[1:] != byte[:-1]])
            self.bitmap[byte[first]] = np.bitwise_or.reduceat(np.left_shift(np.uint8(1), bit), first)

    def lookup(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(hit, lo, hi)``: which ``hashes`` are eval n-grams, and for each hit the range of
        ``items`` that hold it."""
        top = hashes >> np.uint64(64 - self.bits)
        maybe = np.flatnonzero((self.bitmap[top >> np.uint64(3)] >> (top & np.uint64(7)).astype(np.uint8)) & 1)
        hit = np.zeros(len(hashes), bool)
        if not len(maybe):
            return hit, np.zeros(0, np.int64), np.zeros(0, np.int64)
        query = hashes[maybe]
        order = np.argsort(query, kind="stable")  # sorted keys: each binary search starts where the last ended
        lo = np.empty(len(query), np.int64)
        lo[order] = np.searchsorted(self.hashes, query[order])
        found = self.hashes[np.minimum(lo, len(self.hashes) - 1)] == query
        hit[maybe[found]] = True
        lo = lo[found]
        hi, query = lo + 1, query[found]
        last = len(self.hashes) - 1
        more = np.flatnonzero((hi <= last) & (self.hashes[np.minimum(hi, last)] == query))
        if len(more):  # n-grams held by several items
            hi[more] = np.searchsorted(self.hashes, query[more], side="right")
        return hit, lo, hi

    def distinct(self) -> int:
        """Distinct n-grams in the index."""
        h = self.hashes
        return int(len(h) and 1 + np.count_nonzero(h[1:] != h[:-1]))

    def save(self, folder: Path) -> None:
        np.save(folder / "hashes.npy", self.hashes)
        np.save(folder / "items.npy", self.items)
        pq.write_table(pa.table({"id": self.ids, "file": pa.array(self.file_of, pa.int32())}), folder / "items.parquet")
        (folder / "meta.json").write_text(json.dumps({"format": _FORMAT, "n": self.n, "files": self.files}))

    @classmethod
    def load(cls, folder: Path) -> "EvalIndex":
        meta = json.loads((folder / "meta.json").read_text())
        items = pq.read_table(folder / "items.parquet")
        return cls(np.load(folder / "hashes.npy", mmap_mode="r"), np.load(folder / "items.npy", mmap_mode="r"),
                   items.column("id").combine_chunks(), items.column("file").to_numpy(), meta["files"], meta["n"])


def build_index(spec: IndexSpec) -> EvalIndex:
    """Read every eval file with thresher's readers and index its items' n-grams."""
    start = time.perf_counter()
    spec.check_files()
    names = spec.names()
    opts = ReadOptions(text_field=spec.text_field, id_field=spec.id_field, on_error="raise")
    pairs, ids, file_of, offset = [], [], [], 0
    for k, (path, name) in enumerate(zip(spec.paths, names)):
        for batch in _read(Path(path), name, opts, spec.owner):
            for lo, hi in word_chunks(batch.column("text")):
                grams = doc_ngrams(batch.column("text").slice(lo, hi - lo), spec.n)
                pairs.append(_distinct_pairs(grams.hashes, grams.doc + offset + lo))
            ids.append(batch.column("id"))
            file_of.append(np.full(batch.num_rows, k, np.int32))
            offset += batch.num_rows
    hashes, items = _distinct_pairs(np.concatenate([p[0] for p in pairs] or [np.zeros(0, np.uint64)]),
                                    np.concatenate([p[1] for p in pairs] or [np.zeros(0, np.int64)]))
    if not len(hashes):
        raise InputError(f"{spec.owner}: the eval set ({', '.join(names)}) has no {spec.n}-grams: none of its "
                         f"{offset} items has {spec.n} words after normalization. Lower n, or check "
                         f"eval_text_field ({spec.text_field!r}).")
    index = EvalIndex(hashes, items.astype(np.int32 if offset < 2**31 else np.int64),
                      pa.concat_arrays([i.cast(pa.string()) for i in ids]), np.concatenate(file_of), names, spec.n)
    log.info("eval index: %d distinct %d-grams of %d items in %d files, built in %.1fs", index.distinct(), spec.n,
             offset, len(names), time.perf_counter() - start)
    return index


def _read(path: Path, name: str, opts: ReadOptions, owner: str) -> Iterator[pa.RecordBatch]:
    try:
        for batch, _ in read_batches(path, name, opts):
            if batch is not None and batch.num_rows:
                yield batch
    except InputError as exc:
        fields = f"eval_text_field={opts.text_field!r}, eval_id_field={opts.id_field!r}"
        raise InputError(f"{owner} ({fields}): {exc}") from None


def _distinct_pairs(hashes: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct ``(hash, item)`` pairs, sorted by hash then item."""
    order = np.lexsort((items, hashes))
    hashes, items = hashes[order], items[order]
    new = np.ones(len(hashes), bool)
    new[1:] = (hashes[1:] != hashes[:-1]) | (items[1:] != items[:-1])
    return hashes[new], items[new]


#: The indexes this process loaded, most recent last (a recipe may decontaminate against several sets).
_LOADED: OrderedDict[str, EvalIndex] = OrderedDict()
_KEEP = 4


def load_index(spec: IndexSpec, cache_dir: Path | None = None) -> EvalIndex:
    """The index of ``spec``: from this process's memory, the cache directory, or built."""
    key = spec.key()
    if key in _LOADED:
        _LOADED.move_to_end(key)
    else:
        _LOADED[key] = build_index(spec) if cache_dir is None else _cached(spec, key, Path(cache_dir) / "eval-index")
        while len(_LOADED) > _KEEP:
            _LOADED.popitem(last=False)
    return _LOADED[key]


def _cached(spec: IndexSpec, key: str, root: Path) -> EvalIndex:
    folder = root / key
    if not (folder / "meta.json").exists():
        root.mkdir(parents=True, exist_ok=True)
        with _locked(root / f"{key}.lock"):
            if not (folder / "meta.json").exists():
                index = build_index(spec)
                tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=root))
                try:
                    index.save(tmp)
                    tmp.rename(folder)
                finally:
                    shutil.rmtree(tmp, ignore_errors=True)
                return index
    return EvalIndex.load(folder)


@contextmanager
def _locked(path: Path):
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
