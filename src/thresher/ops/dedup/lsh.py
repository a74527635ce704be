"""MinHash signatures, LSH banding and connected components, vectorized with numpy."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..text.ngrams import rolling_hashes, tokenize
from .kernels import minhash_into

__all__ = ["optimal_bands", "signatures", "band_keys", "candidate_edges", "components", "s_curve", "is_empty"]

_EMPTY = np.uint32(0xFFFFFFFF)


def s_curve(similarity: float | np.ndarray, bands: int, rows: int):
    """Probability that two documents of Jaccard ``similarity`` share at least one band."""
    return 1 - (1 - np.asarray(similarity, dtype=float) ** rows) ** bands


def optimal_bands(threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5) -> tuple[int, int]:
    """``(bands, rows)`` with ``bands * rows <= num_perm`` minimising the weighted areas of false
    positives (below ``threshold``) and false negatives (above it) under the S-curve, as
    datasketch's ``_optimal_param`` does (Leskovec et al., Mining of Massive Datasets, Sec. 3.4)."""
    low = np.linspace(0, threshold, 201)
    high = np.linspace(threshold, 1, 201)
    best, best_cost = (1, 1), np.inf
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            fp = np.trapezoid(s_curve(low, bands, rows), low)
            fn = np.trapezoid(1 - s_curve(high, bands, rows), high)
            cost = fp_weight * fp + fn_weight * fn
            if cost < best_cost - 1e-12:
                best, best_cost = (bands, rows), cost
    return best


def normalize_for_shingles(texts: pa.Array) -> pa.Array:
    """NFKC, lowercase, punctuation and symbols to spaces (letters and digits of any script stay)."""
    texts = pc.utf8_normalize(texts.fill_null(""), form="NFKC")
    return pc.replace_substring_regex(pc.utf8_lower(texts), pattern=r"[^\pL\pN\s]+", replacement=" ")


def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The multipliers (odd) and offsets of ``num_perm`` multiply-shift hash functions."""
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 2**63, size=num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    b = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64)
    return a, b


def signatures(texts: pa.Array, ngram: int, num_perm: int, seed: int) -> np.ndarray:
    """``(len(texts), num_perm)`` uint32 MinHash signatures of word ``ngram`` shingles.

    A document with fewer than ``ngram`` words has one shingle, all its words; an empty one
    gets an all-``0xFFFFFFFF`` signature (see ``is_empty``).
    """
    tok = tokenize(normalize_for_shingles(texts))
    counts = np.bincount(tok.doc, minlength=tok.n_docs)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    shingles, owner = _shingles(tok, counts, starts, ngram)
    out = np.full((tok.n_docs, num_perm), _EMPTY, dtype=np.uint32)
    if not len(shingles):
        return out
    a, b = permutations(num_perm, seed)
    minhash_into(shingles, owner, a, b, out)
    return out


def _shingles(tok, counts: np.ndarray, starts: np.ndarray, ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """Shingle hashes and their documents, in document order. A document of ``c`` words,
    ``0 < c < ngram``, has one shingle: the hash of its ``c`` words."""
    short = np.flatnonzero((counts > 0) & (counts < ngram))
    one = short[counts[short] == 1]
    parts, owners = [tok.ids[starts[one]]], [one]
    if ngram == 1:
        parts.append(tok.ids)
        owners.append(tok.doc)
    for n, hashes in rolling_hashes(tok, ngram):
        if n < ngram:
            exact = short[counts[short] == n]
            parts.append(hashes[starts[exact]])
            owners.append(exact)
        else:
            pos = np.flatnonzero(np.arange(len(hashes)) + n <= tok.end[: len(hashes)])
            parts.append(hashes[pos])
            owners.append(tok.doc[pos])
    shingles, owner = np.concatenate(parts), np.concatenate(owners)
    order = np.argsort(owner, kind="stable")
    return shingles[order], owner[order]


def is_empty(sigs: np.ndarray) -> np.ndarray:
    return (sigs == _EMPTY).all(axis=1)


def band_keys(sigs: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """``(n, bands)`` uint64 hashes of each band of rows."""
    keys = np.zeros((len(sigs), bands), dtype=np.uint64)
    mult = np.uint64(0x9E3779B97F4A7C15)
    with np.errstate(over="ignore"):
        for r in range(rows):
            keys = keys * mult + sigs[:, r:bands * rows:rows].astype(np.uint64) + np.uint64(r + 1)
    return keys


def candidate_edges(keys: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(first, other)``: every document sharing a band bucket with an earlier one is
    linked to the bucket's first document (a star per bucket is enough for components)."""
    us, vs = [], []
    index = np.flatnonzero(valid)
    if not len(index):
        return np.array([], np.int64), np.array([], np.int64)
    for band in range(keys.shape[1]):
        column = keys[index, band]
        order = np.argsort(column, kind="stable")
        sorted_keys, members = column[order], index[order]
        starts = np.r_[True, sorted_keys[1:] != sorted_keys[:-1]]
        leader = members[np.flatnonzero(starts)][np.cumsum(starts) - 1]
        linked = ~starts
        us.append(leader[linked])
        vs.append(members[linked])
    u, v = np.concatenate(us), np.concatenate(vs)
    pairs = np.unique(np.stack([u, v], axis=1), axis=0) if len(u) else np.empty((0, 2), np.int64)
    return pairs[:, 0], pairs[:, 1]


def components(n: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Connected components: each node's label is the smallest node index in its component."""
    label = np.arange(n)
    if not len(u):
        return label
    while True:
        lu, lv = label[u], label[v]
        if np.array_equal(lu, lv):
            return label
        low = np.minimum(lu, lv)
        np.minimum.at(label, lu, low)
        np.minimum.at(label, lv, low)
        while True:  # pointer jumping: every node points at its root
            up = label[label]
            if np.array_equal(up, label):
                break
            label = up
