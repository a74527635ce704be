"""Compiled inner loops of MinHash (numba): fused so that no shingles x permutations matrix is
ever materialized. Each function has a pure-numpy twin in the tests that it must match."""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["word_shingles", "word_ngrams_into", "unseen_code_points", "minhash_into", "minhash64_into",
           "jaccard_sorted", "star_links", "agreement_into", "band_keys_into"]

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
def _utf8_length(lead):  # pragma: no cover - compiled
    """The byte length of the UTF-8 sequence that starts with byte ``lead`` (>= 128)."""
    return 2 if lead < 0xE0 else (3 if lead < 0xF0 else 4)


@njit(cache=True, nogil=True)
def _code_point(data, i, length):  # pragma: no cover - compiled
    """The code point of the ``length``-byte UTF-8 sequence at ``data[i]``."""
    cp = np.int64(data[i]) & (0x1F if length == 2 else (0x0F if length == 3 else 0x07))
    for j in range(1, length):
        cp = (cp << 6) | (np.int64(data[i + j]) & 0x3F)
    return min(cp, 0x10FFFF)


@njit(cache=True, nogil=True)
def unseen_code_points(data, word_cp, seen):  # pragma: no cover - compiled
    """Mark in ``seen`` the non-ASCII code points of UTF-8 ``data`` that ``word_cp`` does not
    classify yet (0): the caller classifies them before the shingle kernels read ``word_cp``."""
    i, n = 0, data.shape[0]
    while i < n:
        if data[i] < 128:
            i += 1
            continue
        step = min(_utf8_length(data[i]), n - i)
        cp = _code_point(data, i, step)
        if word_cp[cp] == 0:
            seen[cp] = 1
        i += step


@njit(cache=True, nogil=True)
def word_shingles(data, offsets, ngram, word_cp, out_hash, out_owner):  # pragma: no cover - compiled
    """Hashes of the word ``ngram``-grams of each document ``data[offsets[d]:offsets[d+1]]``,
    written to ``out_hash``/``out_owner`` in document order; returns how many.

    A word is a maximal run of ASCII letters and digits (lowered) and of the non-ASCII code
    points that ``word_cp`` marks 1 (letters and digits, ``\\pL`` and ``\\pN``; see
    ``unseen_code_points``): on an ASCII text, or on a non-ASCII one after NFKC and lowercasing,
    these are exactly the whitespace-separated words of ``normalize_for_shingles``. A word's hash is FNV-1a of
    its bytes, mixed; an n-gram's is the polynomial ``((w0 * M + w1) * M + ...)``. A document
    with ``0 < c < ngram`` words has one shingle, its ``c`` words."""
    none = np.empty(0, np.int64)
    return word_ngrams_into(data, offsets, ngram, word_cp, True, out_hash, out_owner, none, none)


@njit(cache=True, nogil=True)
def word_ngrams_into(data, offsets, ngram, word_cp, short, out_hash, out_owner, out_start,
                     out_words):  # pragma: no cover - compiled
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
            step = 1
            if byte >= 128:  # a code point of 2-4 bytes: a word character if word_cp says so
                step = min(_utf8_length(byte), end - i)
                is_word = word_cp[_code_point(data, i, step)] == 1
            else:
                if 65 <= byte <= 90:  # ASCII upper case: lowered here
                    byte += 32
                is_word = 48 <= byte <= 57 or 97 <= byte <= 122
            if is_word:
                if step == 1:
                    h = (h ^ np.uint64(byte)) * _FNV_PRIME
                else:
                    for j in range(step):
                        h = (h ^ np.uint64(data[i + j])) * _FNV_PRIME
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
            i += step
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
