"""Word n-gram repetition measures for a whole batch at once, vectorized with numpy.

Tokens are whitespace words (Arrow's ``utf8_split_whitespace``); each n-gram is a 64-bit
rolling hash of its words' dictionary ids, so grouping equal n-grams is a sort, not a Python
dict per document. Two measures of Gopher's repetition filter (Rae et al. 2021, Table A1):

- *top n-gram fraction*: characters of the most frequent n-gram times its count, over the
  characters of all words, when it occurs more than once (ties: the one that occurs first);
- *duplicate n-gram fraction*: characters of the words covered by an occurrence of an n-gram
  that already occurred earlier in the document (each word once), over all word characters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

__all__ = ["Tokens", "tokenize", "rolling_hashes", "ngram_fractions", "mix64", "word_chunks"]

_MULT = np.uint64(0x9E3779B97F4A7C15)
#: Documents are processed in chunks of about this many words, which bounds memory.
CHUNK_WORDS = 1 << 20


@dataclass
class Tokens:
    """The words of a batch of documents, flattened: ``doc[i]`` owns word ``i``."""

    ids: np.ndarray  # uint64 hash of each word
    lengths: np.ndarray  # characters of each word
    doc: np.ndarray  # document index of each word
    end: np.ndarray  # flat index one past the last word of each word's document
    n_docs: int

    def total_chars(self) -> np.ndarray:
        return np.bincount(self.doc, weights=self.lengths, minlength=self.n_docs)


def tokenize(texts: pa.Array) -> Tokens:
    """Split ``texts`` into whitespace words and hash each word to 64 bits (xxh3 of its UTF-8,
    computed once per distinct word): the same word has the same hash in every batch."""
    lists = pc.utf8_split_whitespace(texts.fill_null(""))
    flat = pc.list_flatten(lists)
    lengths = pc.utf8_length(flat).to_numpy(zero_copy_only=False).astype(np.int64)
    nonempty = lengths > 0  # Arrow keeps an empty token for leading/trailing whitespace; str.split() does not
    flat, lengths = flat.filter(pa.array(nonempty)), lengths[nonempty]
    doc = pc.list_parent_indices(lists).to_numpy(zero_copy_only=False).astype(np.int64)[nonempty]
    counts = np.bincount(doc, minlength=len(texts))
    encoded = pc.dictionary_encode(flat)
    digest = xxhash.xxh3_64_intdigest
    distinct = np.fromiter((digest(w.encode("utf-8", "surrogatepass")) for w in encoded.dictionary.to_pylist()),
                           dtype=np.uint64, count=len(encoded.dictionary))
    ids = distinct[encoded.indices.to_numpy(zero_copy_only=False)]
    ends = np.cumsum(counts)
    return Tokens(ids, lengths, doc, ends[doc] if len(doc) else doc, len(counts))


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64: spread word ids over 64 bits so rolling hashes rarely collide."""
    with np.errstate(over="ignore"):
        x = (x + _MULT).astype(np.uint64)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def ngram_fractions(texts: pa.Array, top: tuple[int, ...], duplicate: tuple[int, ...]) -> dict[str, np.ndarray]:
    """``{"top_2": array, ..., "dup_5": array, ...}``: one value per document of ``texts``."""
    n_docs = len(texts)
    out = {f"top_{n}": np.zeros(n_docs) for n in top} | {f"dup_{n}": np.zeros(n_docs) for n in duplicate}
    for start, stop in word_chunks(texts):
        tokens = tokenize(texts.slice(start, stop - start))
        for key, values in _fractions(tokens, top, duplicate).items():
            out[key][start:stop] = values
    return out


def word_chunks(texts: pa.Array) -> list[tuple[int, int]]:
    """Document ranges of about ``CHUNK_WORDS`` words (estimated from bytes)."""
    sizes = pc.binary_length(texts.fill_null("")).to_numpy(zero_copy_only=False) // 6 + 1
    bounds, start, acc = [], 0, 0
    for i, size in enumerate(sizes.tolist()):
        acc += size
        if acc >= CHUNK_WORDS:
            bounds.append((start, i + 1))
            start, acc = i + 1, 0
    if start < len(sizes) or not bounds:
        bounds.append((start, len(sizes)))
    return bounds


def _fractions(tok: Tokens, top: tuple[int, ...], duplicate: tuple[int, ...]) -> dict[str, np.ndarray]:
    total = tok.total_chars()
    safe_total = np.where(total > 0, total, 1)
    prefix = np.concatenate([[0], np.cumsum(tok.lengths)])
    doc_salt = mix64(tok.doc.astype(np.uint64) + np.uint64(1 << 40))
    out: dict[str, np.ndarray] = {}
    candidates = np.arange(len(tok.ids))  # an n-gram can repeat only where its (n-1)-gram does
    for n, hashes in rolling_hashes(tok, max((*top, *duplicate, 1))):
        candidates = candidates[candidates < len(hashes)]
        candidates = candidates[candidates + n <= tok.end[candidates]]
        groups = _Groups(hashes[candidates] ^ doc_salt[candidates], candidates, tok.doc)
        if n in top:
            out[f"top_{n}"] = _top_fraction(groups, n, prefix, tok.n_docs) / safe_total
        if n in duplicate:
            out[f"dup_{n}"] = _covered_chars(groups.repeats(), n, tok) / safe_total
        candidates = groups.repeated_positions()
    return out


def rolling_hashes(tok: Tokens, up_to: int):
    """Yield ``(n, hashes)`` for n = 2..``up_to``: ``hashes[i]`` is the hash of the n words from
    flat position ``i`` (meaningful where ``i + n <= tok.end[i]``, i.e. inside one document)."""
    hashes = tok.ids.copy()
    for n in range(2, up_to + 1):
        with np.errstate(over="ignore"):
            hashes = hashes[:-1] * _MULT + tok.ids[n - 1:]
        yield n, hashes


class _Groups:
    """Occurrences of equal n-grams within a document (``key`` mixes the n-gram's hash and
    the document), sorted by key with positions ascending inside each group."""

    def __init__(self, key: np.ndarray, pos: np.ndarray, doc_of: np.ndarray) -> None:
        order = np.argsort(key, kind="stable")
        self.key, self.pos = key[order], pos[order]
        self.doc = doc_of[self.pos]
        starts = np.ones(len(order), dtype=bool)
        starts[1:] = self.key[1:] != self.key[:-1]
        self.starts = starts
        first = np.flatnonzero(starts)
        self.first = first
        self.counts = np.diff(np.append(first, len(order)))

    def repeats(self) -> np.ndarray:
        """Positions of occurrences that are not the first of their n-gram in their document."""
        return self.pos[~self.starts]

    def repeated_positions(self) -> np.ndarray:
        """Sorted positions of every occurrence of an n-gram that occurs more than once."""
        multi = np.repeat(self.counts > 1, self.counts)
        return np.sort(self.pos[multi])


def _top_fraction(groups: _Groups, n: int, prefix: np.ndarray, n_docs: int) -> np.ndarray:
    """Per document: count x characters of its most frequent n-gram (0 when none repeats)."""
    multi = groups.counts > 1  # only an n-gram that repeats counts
    first, counts = groups.first[multi], groups.counts[multi]
    doc, first_pos = groups.doc[first], groups.pos[first]
    best = np.lexsort((first_pos, -counts, doc))  # per doc: highest count, then earliest
    lead = best[np.flatnonzero(np.r_[True, doc[best][1:] != doc[best][:-1]])] if len(best) else best
    value = np.zeros(n_docs)
    chars = prefix[first_pos[lead] + n] - prefix[first_pos[lead]]
    value[doc[lead]] = counts[lead] * chars
    return value


def _covered_chars(starts: np.ndarray, n: int, tok: Tokens) -> np.ndarray:
    """Per document: characters of the words covered by ``[start, start + n)`` for ``starts``."""
    size = len(tok.ids) + 1
    cover = np.bincount(starts, minlength=size) - np.bincount(starts + n, minlength=size)
    covered = np.cumsum(cover[:-1]) > 0
    return np.bincount(tok.doc[covered], weights=tok.lengths[covered], minlength=tok.n_docs)
