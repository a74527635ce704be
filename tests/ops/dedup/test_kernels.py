"""The compiled MinHash loops against plain numpy/Python twins."""

import numpy as np

from thresher.ops.dedup.kernels import jaccard_sorted, minhash_into
from thresher.ops.dedup.lsh import permutations


def test_minhash_into_matches_numpy():
    rng = np.random.default_rng(1)
    shingles = rng.integers(0, 2**63, size=500, dtype=np.uint64) * np.uint64(2)
    owner = np.sort(rng.integers(0, 7, size=500)).astype(np.int64)
    a, b = permutations(64, seed=3)
    out = np.full((7, 64), 0xFFFFFFFF, dtype=np.uint32)
    minhash_into(shingles, owner, a, b, out)
    with np.errstate(over="ignore"):
        values = ((shingles[:, None] * a[None, :] + b[None, :]) >> np.uint64(32)).astype(np.uint32)
    for doc in range(7):
        mine = values[owner == doc]
        expected = mine.min(axis=0) if len(mine) else np.full(64, 0xFFFFFFFF, np.uint32)
        assert np.array_equal(out[doc], expected)


def test_jaccard_sorted_matches_sets():
    rng = np.random.default_rng(2)
    sets = [np.unique(rng.integers(0, 40, size=rng.integers(0, 30))).astype(np.uint64) for _ in range(12)]
    values = np.concatenate(sets)
    starts = np.r_[0, np.cumsum([len(s) for s in sets])].astype(np.int64)
    u, v = np.array([0, 1, 2, 3, 5, 7, 11], np.int64), np.array([1, 2, 3, 4, 6, 8, 11], np.int64)
    out = np.zeros(len(u))
    jaccard_sorted(values, starts, u, v, out)
    for k, (i, j) in enumerate(zip(u, v)):
        x, y = set(sets[i].tolist()), set(sets[j].tolist())
        expected = len(x & y) / len(x | y) if x | y else 0.0
        assert out[k] == expected
