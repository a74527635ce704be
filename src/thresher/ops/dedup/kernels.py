"""Compiled inner loops of MinHash (numba): fused so that no shingles x permutations matrix is
ever materialized. Each function has a pure-numpy twin in the tests that it must match."""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["minhash_into", "minhash64_into", "jaccard_sorted"]


@njit(cache=True, nogil=True)
def minhash_into(shingles, owner, a, b, out):  # pragma: no cover - compiled
    """``out[owner[i], p] = min(out[owner[i], p], (a[p] * shingles[i] + b[p]) >> 32)``:
    32-bit MinHash values of 64-bit shingle hashes under multiply-shift permutations."""
    num_perm = a.shape[0]
    shift = np.uint64(32)
    for i in range(shingles.shape[0]):
        x = shingles[i]
        row = out[owner[i]]
        for p in range(num_perm):
            row[p] = min(row[p], np.uint32((a[p] * x + b[p]) >> shift))


@njit(cache=True, nogil=True)
def minhash64_into(shingles, owner, a, b, out):  # pragma: no cover - compiled
    """The 64-bit variant: ``out[owner[i], p] = min(..., a[p] * shingles[i] + b[p] mod 2^64)``
    (an odd multiplier makes each function a permutation of the 64-bit values)."""
    num_perm = a.shape[0]
    for i in range(shingles.shape[0]):
        x = shingles[i]
        row = out[owner[i]]
        for p in range(num_perm):
            row[p] = min(row[p], a[p] * x + b[p])


@njit(cache=True, nogil=True)
def jaccard_sorted(values, starts, u, v, out):  # pragma: no cover - compiled
    """``out[k]`` = Jaccard similarity of the sorted, distinct sets ``values[starts[u[k]]:starts[u[k]+1]]``
    and ``values[starts[v[k]]:starts[v[k]+1]]`` (0 when both are empty)."""
    for k in range(u.shape[0]):
        i, i_end = starts[u[k]], starts[u[k] + 1]
        j, j_end = starts[v[k]], starts[v[k] + 1]
        size = (i_end - i) + (j_end - j)
        common = 0
        while i < i_end and j < j_end:
            if values[i] == values[j]:
                common += 1
                i += 1
                j += 1
            elif values[i] < values[j]:
                i += 1
            else:
                j += 1
        union = size - common
        out[k] = common / union if union else 0.0
