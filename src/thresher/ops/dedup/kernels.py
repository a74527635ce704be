"""Compiled inner loops of MinHash (numba): fused so that no shingles x permutations matrix is
ever materialized. Each function has a pure-numpy twin in the tests that it must match."""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["word_shingles", "word_ngrams_into", "minhash_into", "minhash64_into", "jaccard_sorted", "star_links",
           "agreement_into", "band_keys_into"]

_FNV_PRIME = np.uint64(0x100000001B3)
_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_MULT = np.uint64(0x9E3779B97F4A7C15)


@njit(cache=True, nogil=True)
def _mix64(x):  # pragma: no cover - compiled
    """splitmix64's finalizer."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@njit(cache=True, nogil=True)
def word_shingles(data, offsets, ngram, out_hash, out_owner):  # pragma: no cover - compiled
    """Hashes of the word ``ngram``-grams of each document ``data[offsets[d]:offsets[d+1]]``,
    written to ``out_hash``/``out_owner`` in document order; returns how many.

    A word is a maximal run of ASCII letters and digits (lowered) and non-ASCII bytes: on a
    text that ``normalize_for_shingles`` left alone (ASCII) or made (NFKC, lowercase, symbols
    to spaces), these are exactly its whitespace-separated words. A word's hash is FNV-1a of
    its bytes, mixed; an n-gram's is the polynomial ``((w0 * M + w1) * M + ...)``. A document
    with ``0 < c < ngram`` words has one shingle, its ``c`` words."""
    none = np.empty(0, np.int64)
    return word_ngrams_into(data, offsets, ngram, True, out_hash, out_owner, none, none)


@njit(cache=True, nogil=True)
def word_ngrams_into(data, offsets, ngram, short, out_hash, out_owner, out_start, out_words):  # pragma: no cover
    """``word_shingles``, with the word index of each n-gram's first word in ``out_start`` and
    each document's word count in ``out_words`` (when those are not empty); a document with
    ``0 < c < ngram`` words has one shingle only if ``short``. The polynomial is rolled (the
    word leaving the window is taken out with ``M ** ngram``): the same values, mod 2**64,
    as summing the window, in one multiply per word."""
    ring = np.zeros(ngram, np.uint64)
    top = np.uint64(1)
    for _ in range(ngram):
        top = top * _MULT
    starts, counts = out_start.shape[0] > 0, out_words.shape[0] > 0
    k = 0
    for d in range(offsets.shape[0] - 1):
        count = 0
        slot = 0
        rolled = np.uint64(0)
        in_word = False
        h = _FNV_OFFSET
        end = offsets[d + 1]
        i = offsets[d]
        while i <= end:
            byte = data[i] if i < end else 32
            if 65 <= byte <= 90:  # ASCII upper case: lowered here
                byte += 32
            if byte >= 128 or 48 <= byte <= 57 or 97 <= byte <= 122:
                h = (h ^ np.uint64(byte)) * _FNV_PRIME
                in_word = True
            elif in_word:
                word = _mix64(h)
                rolled = rolled * _MULT + word
                if count >= ngram:
                    rolled -= ring[slot] * top
                ring[slot] = word
                slot = slot + 1 if slot + 1 < ngram else 0
                count += 1
                in_word = False
                h = _FNV_OFFSET
                if count >= ngram:
                    out_hash[k] = rolled
                    out_owner[k] = d
                    if starts:
                        out_start[k] = count - ngram
                    k += 1
            i += 1
        if counts:
            out_words[d] = count
        if short and 0 < count < ngram:
            out_hash[k] = rolled
            out_owner[k] = d
            k += 1
    return k


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


@njit(cache=True, nogil=True)
def star_links(packed, bits, keys, docs, out_u, out_v):  # pragma: no cover - compiled
    """Links ``(leader, doc)`` from each bucket's smallest document to its others, written to
    ``out_u``/``out_v``; returns how many. ``packed`` is, sorted, ``(keys >> bits) << bits | i``
    over entries ``i``: runs of equal high bits hold whole buckets, and a run whose full keys
    differ (high bits shared by chance) is split by full key exactly."""
    mask = (np.uint64(1) << np.uint64(bits)) - np.uint64(1)
    shift = np.uint64(bits)
    n = packed.shape[0]
    k = 0
    i = 0
    while i < n:
        top = packed[i] >> shift
        j = i + 1
        while j < n and packed[j] >> shift == top:
            j += 1
        if j - i > 1:
            rows = (packed[i:j] & mask).astype(np.int64)
            first = keys[rows[0]]
            mixed = False
            for q in range(1, j - i):
                if keys[rows[q]] != first:
                    mixed = True
                    break
            if mixed:
                rows = rows[np.argsort(keys[rows], kind="mergesort")]
            lo = 0
            while lo < j - i:
                hi = lo + 1
                while hi < j - i and keys[rows[hi]] == keys[rows[lo]]:
                    hi += 1
                leader = docs[rows[lo]]
                for q in range(lo + 1, hi):
                    leader = min(leader, docs[rows[q]])
                for q in range(lo, hi):
                    if docs[rows[q]] != leader:
                        out_u[k] = leader
                        out_v[k] = docs[rows[q]]
                        k += 1
                lo = hi
        i = j
    return k


@njit(cache=True, nogil=True)
def agreement_into(sig, iu, iv, out):  # pragma: no cover - compiled
    """``out[k]`` = the fraction of equal values of signatures ``sig[iu[k]]`` and ``sig[iv[k]]``
    (their estimated Jaccard similarity), with no pairs x permutations temporary."""
    width = sig.shape[1]
    for k in range(iu.shape[0]):
        a, b = sig[iu[k]], sig[iv[k]]
        same = 0
        for p in range(width):
            same += a[p] == b[p]
        out[k] = same / width


@njit(cache=True, nogil=True)
def band_keys_into(sigs, bands, rows, out):  # pragma: no cover - compiled
    """``out[d, b]``: band ``b``'s bucket key of signature ``sigs[d]``: its index in the top 10
    bits, below them a 54-bit hash of its ``rows`` values (``lsh.band_keys`` documents it)."""
    starts = np.empty(bands, np.uint64)
    for b in range(bands):
        starts[b] = _mix64(np.uint64(b + 1) + _MULT)
    for d in range(sigs.shape[0]):
        for b in range(bands):
            key = starts[b]
            for r in range(rows):
                key = key * _MULT + np.uint64(sigs[d, b * rows + r]) + np.uint64(r + 1)
            out[d, b] = (_mix64(key + _MULT) >> np.uint64(10)) | (np.uint64(b) << np.uint64(54))
