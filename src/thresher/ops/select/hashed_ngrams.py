"""Hashed word n-gram counts, the features of DSIR (Xie et al. 2023, "Data Selection for
Language Models via Importance Resampling"), computed exactly as the authors'
``data-selection`` package (1.0.3, ``hashed_ngram_dsir.get_ngram_counts``) does, for a whole
batch at once.

A text is lowercased (``str.lower``) and cut into NLTK's ``WordPunctTokenizer`` tokens (runs of
word characters or runs of other non-space characters, ``\\w+|[^\\w\\s]+``); its unigrams and
its k-grams for k = 2..n (tokens joined by one space) are each hashed to
``int(sha256(utf8).hexdigest(), 16) % num_buckets``. The reference loops over every n-gram of
every text in Python; here each distinct token and each distinct k-gram of a batch is hashed
once, by a compiled SHA-256 (k-grams are found as pairs of ids, so their strings are built
once too).

A document's features are the bucket ids of its n-grams (a multiset: its sparse count vector),
unigrams first, then bigrams...; ``bucket_counts`` sums them over documents.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import chain
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["HashedNgrams", "hashed_ngrams", "bucket_counts", "TOKEN"]

#: NLTK's ``WordPunctTokenizer`` pattern (``nltk.tokenize.regexp``), the reference's default.
TOKEN = re.compile(r"\w+|[^\w\s]+")
#: Texts are featurized in chunks of about this many characters, which bounds memory.
CHUNK_CHARS = 1 << 23


@dataclass
class HashedNgrams:
    """The n-gram buckets of a batch of documents: document ``d`` owns
    ``buckets[offsets[d]:offsets[d + 1]]`` and has ``tokens[d]`` tokens."""

    buckets: np.ndarray  # uint16 (num_buckets <= 65536) or uint32
    offsets: np.ndarray  # int64, one more than documents
    tokens: np.ndarray  # int64

    def to_arrow(self) -> pa.Array:
        """One list of bucket ids per document."""
        return pa.LargeListArray.from_arrays(pa.array(self.offsets, pa.int64()), pa.array(self.buckets))


def hashed_ngrams(texts: Sequence[str | None] | pa.Array, *, num_buckets: int = 10_000,
                  ngrams: int = 2) -> HashedNgrams:
    """The hashed 1..``ngrams``-grams of each text (null texts have none).

    >>> h = hashed_ngrams(["Hello, world!", None], num_buckets=10_000)
    >>> h.tokens.tolist(), h.offsets.tolist()
    ([4, 0], [0, 7, 7])
    """
    if isinstance(texts, (pa.Array, pa.ChunkedArray)):
        texts = texts.to_pylist()
    dtype = np.uint16 if num_buckets <= 1 << 16 else np.uint32
    parts, tokens = [], []
    for lo, hi in _chunks(texts):
        bag = _featurize(texts[lo:hi], num_buckets, ngrams, dtype)
        parts.append(bag)
        tokens.append(bag.tokens)
    if not parts:
        return HashedNgrams(np.zeros(0, dtype), np.zeros(1, np.int64), np.zeros(0, np.int64))
    shift = np.cumsum([0] + [len(p.buckets) for p in parts[:-1]])
    offsets = np.concatenate([[0]] + [p.offsets[1:] + s for p, s in zip(parts, shift)])
    return HashedNgrams(np.concatenate([p.buckets for p in parts]), offsets.astype(np.int64),
                        np.concatenate(tokens))


def bucket_counts(buckets: np.ndarray, num_buckets: int) -> np.ndarray:
    """How many n-grams fall in each bucket (int64, length ``num_buckets``)."""
    return np.bincount(buckets, minlength=num_buckets).astype(np.int64)


def _chunks(texts: Sequence[str | None]) -> list[tuple[int, int]]:
    bounds, start, acc = [], 0, 0
    for i, text in enumerate(texts):
        acc += len(text) if text else 0
        if acc >= CHUNK_CHARS:
            bounds.append((start, i + 1))
            start, acc = i + 1, 0
    if start < len(texts):
        bounds.append((start, len(texts)))
    return bounds


def _featurize(texts: Sequence[str | None], num_buckets: int, ngrams: int, dtype) -> HashedNgrams:
    from .sha256 import sha256_mod  # numba: loaded where features are hashed, not at import

    words = [TOKEN.findall(t.lower()) if t else [] for t in texts]
    tokens = np.fromiter(map(len, words), np.int64, len(words))
    doc = np.repeat(np.arange(len(words)), tokens)
    encoded = pc.dictionary_encode(pa.array(list(chain.from_iterable(words)), pa.string()))
    ids = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    vocab = encoded.dictionary
    starts, gram_ids, strings = np.arange(len(ids)), ids, vocab  # the k-grams, from k = 1 on
    found = [(starts, sha256_mod(vocab, num_buckets)[ids])]
    for k in range(2, ngrams + 1):
        keep = starts + k - 1 < len(ids)
        keep[keep] = doc[starts[keep] + k - 1] == doc[starts[keep]]
        starts = starts[keep]
        pairs = pc.dictionary_encode(pa.array(gram_ids[keep] * len(vocab) + ids[starts + k - 1]))
        distinct = pairs.dictionary.to_numpy()
        strings = pc.binary_join_element_wise(strings.take(pa.array(distinct // len(vocab))),
                                              vocab.take(pa.array(distinct % len(vocab))), " ")
        gram_ids = pairs.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        found.append((starts, sha256_mod(strings, num_buckets)[gram_ids]))
    return _by_document(found, doc, tokens, dtype)


def _by_document(found: list[tuple[np.ndarray, np.ndarray]], doc: np.ndarray, tokens: np.ndarray,
                 dtype) -> HashedNgrams:
    """Lay the k-grams out document by document: unigrams, then bigrams..., each in text order."""
    per_k = [np.bincount(doc[starts], minlength=len(tokens)) for starts, _ in found]
    offsets = np.zeros(len(tokens) + 1, np.int64)
    offsets[1:] = np.cumsum(np.sum(per_k, axis=0)) if per_k else 0
    first_token = np.concatenate([[0], np.cumsum(tokens)[:-1]]) if len(tokens) else tokens
    out = np.empty(offsets[-1], dtype)
    before = offsets[:-1].copy()  # where the current k's grams of each document begin
    for (starts, buckets), count in zip(found, per_k):
        d = doc[starts]
        out[before[d] + starts - first_token[d]] = buckets
        before += count
    return HashedNgrams(out, offsets, tokens)
