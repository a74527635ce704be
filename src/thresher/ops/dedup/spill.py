"""Disk-backed working sets that keep a dedup op's memory under a budget: hash-partitioned
bucket entries, one signature row per record, and connected components of links added in batches.

``Partitions`` holds its rows in memory when given no directory and writes to files under
the directory otherwise (both ways give the same results); ``SignatureStore`` is on disk only.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from .lsh import components

__all__ = ["Partitions", "SignatureStore", "Clusters", "memory_budget"]


def memory_budget(memory_mb: int | None) -> int:
    """A dedup op's working-memory budget in bytes: ``memory_mb`` MiB, or a quarter of the
    memory available now."""
    if memory_mb is not None:
        return memory_mb << 20
    import psutil

    return psutil.virtual_memory().available // 4


class Partitions:
    """Rows of equal-length arrays, routed to ``n`` partitions and read back one partition at a time."""

    def __init__(self, n: int, dtypes: tuple[np.dtype, ...], directory: Path | None = None) -> None:
        self.n, self.dtypes, self.directory = n, tuple(np.dtype(d) for d in dtypes), directory
        self._memory: list[list[list[np.ndarray]]] = [[[] for _ in dtypes] for _ in range(n)]
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)

    def _path(self, part: int, column: int) -> Path:
        return self.directory / f"part-{part:04d}.{column}.bin"

    def append(self, part: np.ndarray, *columns: np.ndarray) -> None:
        """Add rows; ``part[i]`` is row ``i``'s partition (order within a partition is kept)."""
        order = np.argsort(part, kind="stable")
        bounds = np.searchsorted(part[order], np.arange(self.n + 1))
        for k in range(self.n):
            rows = order[bounds[k]:bounds[k + 1]]
            if len(rows):
                self.add(k, *(values[rows] for values in columns))

    def add(self, part: int, *columns: np.ndarray) -> None:
        """Add rows to one partition."""
        for c, (values, dtype) in enumerate(zip(columns, self.dtypes)):
            chunk = np.ascontiguousarray(values, dtype=dtype)
            if self.directory is None:
                self._memory[part][c].append(chunk)
            else:
                with open(self._path(part, c), "ab") as f:
                    f.write(chunk.tobytes())

    def read(self, part: int) -> tuple[np.ndarray, ...]:
        """Every row of one partition, in the order appended (in memory: once)."""
        if self.directory is None:  # each partition is read once: its chunks are released
            columns, self._memory[part] = self._memory[part], [[] for _ in self.dtypes]
            return tuple(np.concatenate(chunks) if chunks else np.zeros(0, dtype)
                         for chunks, dtype in zip(columns, self.dtypes))
        return tuple(np.fromfile(self._path(part, c), dtype) if self._path(part, c).exists() else np.zeros(0, dtype)
                     for c, dtype in enumerate(self.dtypes))

    def close(self) -> None:
        self._memory = []
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)


class SignatureStore:
    """An ``(n, width)`` matrix written to a file in row blocks, then read by row indices
    with ``pread``, so only the rows asked for are in memory. (In memory, ``dedup_minhash``
    holds no signature matrix: it reads the linked records' signatures from its keys.)
    """

    def __init__(self, n: int, width: int, dtype: np.dtype, directory: Path) -> None:
        self.shape, self.dtype = (n, width), np.dtype(dtype)
        self.path = directory / "signatures.bin"
        directory.mkdir(parents=True, exist_ok=True)
        self.path.write_bytes(b"")

    def write(self, offset: int, rows: np.ndarray) -> None:
        """Rows ``offset .. offset + len(rows)``; blocks must come in order."""
        with open(self.path, "ab") as f:
            f.write(np.ascontiguousarray(rows, self.dtype).tobytes())

    def rows(self, index: np.ndarray) -> np.ndarray:
        width = self.shape[1] * self.dtype.itemsize
        out = np.empty((len(index), self.shape[1]), self.dtype)
        fd = os.open(self.path, os.O_RDONLY)
        try:  # one read per row: a memory map would bring whole neighbourhoods of the file into RSS
            for k, row in enumerate(index.tolist()):
                out[k] = np.frombuffer(os.pread(fd, width, row * width), self.dtype)
        finally:
            os.close(fd)
        return out

    def agreement(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Fraction of equal values between rows ``u[k]`` and ``v[k]``: the MinHash estimate
        of their Jaccard similarity. Computed in blocks of pairs to bound memory."""
        block = 1 << 16
        out = np.empty(len(u))
        for lo in range(0, len(u), block):
            out[lo:lo + block] = (self.rows(u[lo:lo + block]) == self.rows(v[lo:lo + block])).mean(axis=1)
        return out


class Clusters:
    """Connected components of ``n`` nodes from links added in batches, in ``O(n + max_links)``
    memory: when the links pile up, they are replaced by one link per node to the smallest
    node of its component, which has the same components."""

    def __init__(self, n: int, max_links: int) -> None:
        self.n, self.max_links = n, max(1, max_links)
        self._u: list[np.ndarray] = []
        self._v: list[np.ndarray] = []
        self._count = 0

    def add(self, u: np.ndarray, v: np.ndarray) -> None:
        self._u.append(np.asarray(u, np.int64))
        self._v.append(np.asarray(v, np.int64))
        self._count += len(u)
        if self._count > self.max_links:
            self._compress()

    def _compress(self) -> np.ndarray:
        u = np.concatenate(self._u) if self._u else np.zeros(0, np.int64)
        v = np.concatenate(self._v) if self._v else np.zeros(0, np.int64)
        label = components(self.n, u, v)
        moved = np.flatnonzero(label != np.arange(self.n))
        self._u, self._v, self._count = [label[moved]], [moved], len(moved)
        return label

    def labels(self) -> np.ndarray:
        """Each node's component: the smallest node index in it."""
        return self._compress()
