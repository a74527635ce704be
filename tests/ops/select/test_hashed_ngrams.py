"""DSIR's features: the same bucket counts as the reference package's loop, SHA-256 as hashlib."""

import hashlib
import random
import re

import numpy as np
import pyarrow as pa
import pytest

from conftest import real_rows
from thresher.ops.select.hashed_ngrams import bucket_counts, hashed_ngrams
from thresher.ops.select.sha256 import sha256_mod


def _reference_counts(text: str, n: int, num_buckets: int) -> np.ndarray:
    """data-selection 1.0.3's ``get_ngram_counts``, written out: NLTK's WordPunctTokenizer is
    ``re.findall(r"\\w+|[^\\w\\s]+")``, ``nltk.ngrams`` are consecutive tuples joined by a space."""
    words = re.findall(r"\w+|[^\w\s]+", text.lower())
    counts = np.zeros(num_buckets, dtype=int)
    for k in range(1, n + 1):
        for i in range(len(words) - k + 1):
            counts[int(hashlib.sha256(" ".join(words[i:i + k]).encode("utf-8")).hexdigest(), 16) % num_buckets] += 1
    return counts


def _dense(bags, num_buckets):
    return np.stack([bucket_counts(bags.buckets[bags.offsets[d]:bags.offsets[d + 1]], num_buckets)
                     for d in range(len(bags.tokens))])


EDGE = ["", "   ", "Hello, world!!", "don't STOP---now", "İstanbul ΣΊΣΥΦΟΣ naïve café", "a\x1cb\x00c\u2028d",
        "日本語のテキスト。", "x" * 300, "one"]


@pytest.mark.parametrize("n,num_buckets", [(2, 10_000), (1, 97), (3, 2**20)])
def test_counts_equal_the_reference_loop_on_real_text(n, num_buckets):
    texts = [r["text"] for r in real_rows(150)] + EDGE
    bags = hashed_ngrams(texts, num_buckets=num_buckets, ngrams=n)
    expected = np.stack([_reference_counts(t, n, num_buckets) for t in texts])
    np.testing.assert_array_equal(_dense(bags, num_buckets), expected)
    assert bags.tokens.tolist() == [len(re.findall(r"\w+|[^\w\s]+", t.lower())) for t in texts]
    assert bags.buckets.dtype == (np.uint16 if num_buckets <= 2**16 else np.uint32)


def test_chunked_batches_give_the_same_features(monkeypatch):
    texts = [r["text"] for r in real_rows(80)] + [None]
    whole = hashed_ngrams(texts)
    monkeypatch.setattr("thresher.ops.select.hashed_ngrams.CHUNK_CHARS", 500)
    chunked = hashed_ngrams(pa.array(texts))
    np.testing.assert_array_equal(whole.buckets, chunked.buckets)
    np.testing.assert_array_equal(whole.offsets, chunked.offsets)
    assert whole.tokens[-1] == 0 and whole.offsets[-1] == whole.offsets[-2]


def test_empty_batch():
    bags = hashed_ngrams([])
    assert len(bags.tokens) == 0 and bags.offsets.tolist() == [0] and len(bags.to_arrow()) == 0


def test_sha256_mod_equals_hashlib_at_every_padding_length():
    rng = random.Random(0)
    values = ["".join(chr(rng.randrange(32, 0x3000)) for _ in range(n)) for n in range(0, 140) for _ in range(2)]
    values += ["a" * n for n in range(0, 260)]  # one, two, three and more 64-byte blocks
    for modulus in (1, 7, 10_000, 2**16, 2**31 - 1, 2**32):
        expected = [int(hashlib.sha256(v.encode()).hexdigest(), 16) % modulus for v in values]
        assert sha256_mod(pa.array(values), modulus).tolist() == expected
    sliced = pa.array(values).slice(17, 50)
    assert sha256_mod(sliced, 10_000).tolist() == [int(hashlib.sha256(v.encode()).hexdigest(), 16) % 10_000
                                                    for v in values[17:67]]
    with pytest.raises(ValueError, match="modulus"):
        sha256_mod(pa.array(["a"]), 0)
