"""MinHash signatures, LSH banding and connected components, vectorized with numpy."""

from __future__ import annotations

import unicodedata
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..text.ngrams import Tokens, mix64, rolling_hashes

__all__ = ["optimal_bands", "recall_bands", "verify_cutoff", "signatures", "shingle_hashes", "shingle_sets",
           "word_ngrams", "normalize_for_shingles", "band_keys", "bucket_edges", "components", "s_curve", "is_empty",
           "distinct"]


def distinct(values: np.ndarray) -> np.ndarray:
    """The sorted distinct values of a 1-d array: ``np.unique(values)``, which numpy 2.4 computes
    with a hash table about 20x slower than this sort (0.8 s against 0.03 s for 1M int64).

    >>> distinct(np.array([3, 1, 3, 2])).tolist()
    [1, 2, 3]
    """
    values = np.sort(values)
    return values[np.r_[True, values[1:] != values[:-1]]] if len(values) else values


def s_curve(similarity: float | np.ndarray, bands: int, rows: int):
    """Probability that two documents of Jaccard ``similarity`` share at least one band."""
    return 1 - (1 - np.asarray(similarity, dtype=float) ** rows) ** bands


@lru_cache(maxsize=64)
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


@lru_cache(maxsize=64)
def recall_bands(threshold: float, num_perm: int, recall: float = 0.995) -> tuple[int, int]:
    """``(bands, rows)`` with ``bands * rows <= num_perm`` that make a pair of Jaccard ``threshold``
    a candidate with probability at least ``recall``, with the smallest false-positive area
    below the threshold (fewest candidates to verify); the most recall if none reaches it."""
    low = np.linspace(0, threshold, 201)
    options = [(b, r) for b in range(1, num_perm + 1) for r in range(1, num_perm // b + 1)]
    reach = [o for o in options if s_curve(threshold, *o) >= recall]
    if not reach:
        return max(options, key=lambda o: (float(s_curve(threshold, *o)), -o[0]))
    return min(reach, key=lambda o: (round(float(np.trapezoid(s_curve(low, *o), low)), 12), o[0]))


def verify_cutoff(threshold: float, num_perm: int, z: float = 3.0) -> float:
    """The estimated similarity below which a link is dropped: ``z`` standard errors of the
    MinHash estimate below ``threshold`` (only links the signatures clearly refute go)."""
    return threshold - z * float(np.sqrt(threshold * (1 - threshold) / num_perm))


def normalize_for_shingles(texts: pa.Array) -> pa.Array:
    """NFKC, lowercase, punctuation and symbols to spaces (letters and digits of any script stay;
    the only whitespace left is ASCII). ASCII texts take a faster path with the same result."""
    return _by_ascii(texts, _normalize_ascii, _normalize_unicode)


def _normalize_non_ascii(texts: pa.Array) -> pa.Array:
    """NFKC and lowercase for the non-ASCII texts only; ASCII ones are left as they are. The
    word-shingle kernels lower ASCII and split on everything but letters and digits (of any
    script, from ``_word_code_points``): ``normalize_for_shingles``'s words, without its regex
    (about 15 ms a 10k-document batch with a fifth non-ASCII)."""
    return _by_ascii(texts, lambda t: t, _nfkc_lower)


#: Per code point: 1 a letter or digit (``\pL``, ``\pN``), 2 anything else, 0 not yet classified.
_WORD_CODE_POINTS = np.zeros(0x110000, np.uint8)


def _word_code_points(data: np.ndarray) -> np.ndarray:
    """``_WORD_CODE_POINTS``, with every code point of the UTF-8 ``data`` classified."""
    from .kernels import unseen_code_points

    seen = np.zeros(0x110000, np.uint8)
    unseen_code_points(data, _WORD_CODE_POINTS, seen)
    for cp in np.flatnonzero(seen).tolist():  # the few not seen before (idempotent under threads)
        _WORD_CODE_POINTS[cp] = 1 if unicodedata.category(chr(cp))[0] in "LN" else 2
    return _WORD_CODE_POINTS


def _by_ascii(texts: pa.Array, if_ascii, otherwise) -> pa.Array:
    """``if_ascii`` on the ASCII texts and ``otherwise`` on the others, in the original order."""
    texts = texts.fill_null("")
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    ascii_rows = pc.string_is_ascii(texts).to_numpy(zero_copy_only=False)
    if ascii_rows.all():
        return if_ascii(texts)
    if not ascii_rows.any():
        return otherwise(texts)
    first, second = np.flatnonzero(ascii_rows), np.flatnonzero(~ascii_rows)
    merged = pa.concat_arrays([if_ascii(texts.take(first)), otherwise(texts.take(second))])
    return merged.take(pa.array(np.argsort(np.concatenate([first, second]), kind="stable")))


def _normalize_unicode(texts: pa.Array) -> pa.Array:
    return pc.replace_substring_regex(_nfkc_lower(texts), pattern=r"[^\pL\pN\s]+", replacement=" ")


def _nfkc_lower(texts: pa.Array) -> pa.Array:
    # Python's NFKC skips text that its quick check finds normalized: ~8x faster than Arrow's here.
    texts = pa.array([unicodedata.normalize("NFKC", t) for t in texts.to_pylist()], texts.type)
    return pc.utf8_lower(texts)


def _normalize_ascii(texts: pa.Array) -> pa.Array:
    """The same for ASCII: NFKC changes nothing, and RE2's ``\\s`` is ``[\\t\\n\\f\\r ]``."""
    return pc.replace_substring_regex(pc.ascii_lower(texts), pattern=r"[^a-z0-9\t\n\f\r ]+", replacement=" ")


def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The multipliers (odd) and offsets of ``num_perm`` multiply-shift hash functions."""
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 2**63, size=num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    b = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64)
    return a, b


def signatures(texts: pa.Array, ngram: int, num_perm: int, seed: int, unit: str = "word",
               bits: int = 32) -> np.ndarray:
    """``(len(texts), num_perm)`` MinHash signatures (uint32 or uint64 for ``bits``) of the
    ``ngram``-``unit`` shingles (``word`` or ``char``) of the normalized texts.

    A document with fewer than ``ngram`` units has one shingle, all its units; an empty one
    gets an all-ones signature (see ``is_empty``).
    """
    shingles, owner, n_docs = shingle_hashes(texts, ngram, unit)
    dtype = np.uint32 if bits == 32 else np.uint64
    out = np.full((n_docs, num_perm), np.iinfo(dtype).max, dtype=dtype)
    if len(shingles):
        from .kernels import minhash64_into, minhash_into  # numba: loaded where signatures are made

        a, b = permutations(num_perm, seed)
        (minhash_into if bits == 32 else minhash64_into)(shingles, owner, a, b, out)
    return out


def shingle_hashes(texts: pa.Array, ngram: int, unit: str = "word") -> tuple[np.ndarray, np.ndarray, int]:
    """64-bit hashes of every shingle, their document indices (ascending), and the number of documents."""
    if unit == "word":
        return _word_shingles(_normalize_non_ascii(texts), ngram)
    tok = _char_tokens(texts)
    counts = np.bincount(tok.doc, minlength=tok.n_docs)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    shingles, owner = _shingles(tok, counts, starts, ngram)
    return shingles, owner, tok.n_docs


def shingle_sets(texts: pa.Array, ngram: int, unit: str = "word") -> tuple[np.ndarray, np.ndarray]:
    """Each document's distinct shingle hashes, sorted: ``values[starts[i]:starts[i + 1]]``."""
    shingles, owner, n_docs = shingle_hashes(texts, ngram, unit)
    pairs = np.unique(np.stack([owner.astype(np.uint64), shingles], axis=1), axis=0) if len(shingles) \
        else np.zeros((0, 2), np.uint64)
    starts = np.searchsorted(pairs[:, 0], np.arange(n_docs + 1, dtype=np.uint64))
    return np.ascontiguousarray(pairs[:, 1]), starts.astype(np.int64)


def _word_shingles(norm: pa.Array, ngram: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Word shingles straight from the normalized texts' UTF-8 buffer (compiled loop)."""
    from .kernels import word_shingles

    data, offsets = _utf8(norm)
    capacity = int(offsets[-1] - offsets[0]) // 2 + len(norm) + 1
    hashes, owner = np.empty(capacity, np.uint64), np.empty(capacity, np.int64)
    k = word_shingles(data, offsets, ngram, _word_code_points(data), hashes, owner)
    return hashes[:k], owner[:k], len(norm)


def word_ngrams(texts: pa.Array, ngram: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(hashes, doc, start, words)``: every word ``ngram``-gram of the texts, normalized as for
    word shingles (documents with fewer words have none), with its document, the index of its
    first word in that document, and each document's word count. Hashes are those of
    ``shingle_hashes``."""
    from .kernels import word_ngrams_into

    norm = _normalize_non_ascii(texts)
    data, offsets = _utf8(norm)
    capacity = int(offsets[-1] - offsets[0]) // 2 + len(norm) + 1
    hashes, doc, start = np.empty(capacity, np.uint64), np.empty(capacity, np.int64), np.empty(capacity, np.int64)
    words = np.empty(max(len(norm), 1), np.int64)  # never empty: the kernel writes counts into it
    k = word_ngrams_into(data, offsets, ngram, _word_code_points(data), False, hashes, doc, start, words)
    return hashes[:k], doc[:k], start[:k], words[:len(norm)]


def _utf8(norm: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The UTF-8 bytes and 64-bit offsets of a string array, without copying."""
    norm = norm.cast(pa.large_string())
    offsets_buf, data_buf = norm.buffers()[1], norm.buffers()[2]
    offsets = np.frombuffer(offsets_buf, np.int64)[norm.offset:norm.offset + len(norm) + 1]
    data = np.frombuffer(data_buf, np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    return data, offsets


def _char_tokens(texts: pa.Array) -> Tokens:
    """The characters of the normalized texts (whitespace runs as one space) as tokens."""
    norm = pc.utf8_trim_whitespace(pc.replace_substring_regex(normalize_for_shingles(texts), r"\s+", " "))
    lengths = pc.utf8_length(norm).to_numpy(zero_copy_only=False).astype(np.int64)
    points = np.frombuffer("".join(norm.to_pylist()).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    doc = np.repeat(np.arange(len(lengths)), lengths)
    ends = np.cumsum(lengths)
    return Tokens(mix64(points.astype(np.uint64)), np.ones(len(points), np.int64), doc,
                  ends[doc] if len(doc) else doc, len(lengths))


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
    """Rows that are the signature of a document without shingles."""
    return (sigs == np.iinfo(sigs.dtype).max).all(axis=1)


def band_keys(sigs: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """``(n, bands)`` uint64 bucket keys: the band's index in the top 10 bits (so that
    different bands never share a bucket, whatever the partitioning), a 54-bit hash of the
    band's rows below: ``mix64(((mix64(b + 1) * M + s_0 + 1) * M + s_1 + 2) ...) >> 10`` over
    the band's values ``s_r`` (compiled; tests hold the numpy twin)."""
    from .kernels import band_keys_into  # numba: loaded where signatures are made

    out = np.empty((len(sigs), bands), np.uint64)
    band_keys_into(np.ascontiguousarray(sigs), bands, rows, out)
    return out


def bucket_edges(keys: np.ndarray, docs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct pairs ``(first, other)`` from bucket entries ``(keys[i], docs[i])``: every
    document of a bucket is linked to the bucket's smallest document (a star per bucket is
    enough for connected components). The result does not depend on the entries' order.

    The entries are grouped by one sort of 64-bit words (a key's high bits above the entry's
    index), 3-4x faster than an argsort of the keys; the compiled ``star_links`` splits, by
    full key, the rare groups whose keys only share those bits."""
    if not len(keys):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    from .kernels import star_links  # numba: loaded where links are made

    keys = np.ascontiguousarray(keys, np.uint64)
    docs = np.ascontiguousarray(docs, np.int64)
    bits = max(1, (len(keys) - 1).bit_length())
    packed = np.sort((keys >> np.uint64(bits) << np.uint64(bits)) | np.arange(len(keys), dtype=np.uint64))
    u, v = np.empty(len(keys), np.int64), np.empty(len(keys), np.int64)
    count = star_links(packed, bits, keys, docs, u, v)
    if not count:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    span = np.int64(docs.max() + 1)
    pairs = distinct(u[:count] * span + v[:count])  # one int64 per pair: a 1-d sort
    return pairs // span, pairs % span


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
