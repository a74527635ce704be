"""Which records share n-grams with an eval index, with a match report per record: matched
n-grams, overlap ratio, the eval item that holds most of them, and the longest run of
consecutive n-grams of that item as a character span of the record's own text."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pyarrow as pa

from ..dedup.lsh import normalize_for_shingles
from ..text.ngrams import word_chunks
from .eval_index import DocNgrams, EvalIndex, doc_ngrams

__all__ = ["Overlaps", "find_overlaps", "word_spans"]


@dataclass
class Overlaps:
    """Per record: ``matches`` (distinct eval n-grams it holds), ``ratio`` (share of its
    n-gram occurrences that are eval n-grams), ``item`` (the eval item that holds most of
    them, -1 if none), ``start``/``end`` (character span of its longest run of consecutive
    n-grams of that item; -1 when none or unknown) and ``span`` (that text)."""

    matches: np.ndarray
    ratio: np.ndarray
    item: np.ndarray
    start: np.ndarray
    end: np.ndarray
    span: list

    @classmethod
    def empty(cls, n: int) -> "Overlaps":
        return cls(np.zeros(n, np.int64), np.zeros(n), np.full(n, -1, np.int64), np.full(n, -1, np.int64),
                   np.full(n, -1, np.int64), [None] * n)


def find_overlaps(texts: pa.Array, index: EvalIndex) -> Overlaps:
    """Look up every word n-gram of ``texts`` in ``index`` (documents in chunks of about a
    million words, which bounds memory)."""
    texts = texts.fill_null("")
    out = Overlaps.empty(len(texts))
    for lo, hi in word_chunks(texts):
        chunk = texts.slice(lo, hi - lo)
        _fill(out, lo, chunk, doc_ngrams(chunk, index.n), index)
    return out


def _fill(out: Overlaps, lo: int, texts: pa.Array, grams: DocNgrams, index: EvalIndex) -> None:
    n_docs = len(texts)
    hit, first, last = index.lookup(grams.hashes)
    if not hit.any():
        return
    total = np.maximum(grams.words - index.n + 1, 1)
    mdoc, mstart = grams.doc[hit], grams.start[hit]
    out.ratio[lo:lo + n_docs] = np.bincount(mdoc, minlength=n_docs) / total
    out.matches[lo:lo + n_docs] = _distinct_per_doc(mdoc, grams.hashes[hit], n_docs)
    best, holds = _best_item(mdoc, first, last, index.items, n_docs)
    runs = _longest_runs(mstart, mdoc, holds)
    docs = np.array(sorted(runs), np.int64)
    originals = texts.take(pa.array(docs)).to_pylist()
    normalized = normalize_for_shingles(texts.take(pa.array(docs))).to_pylist()
    for d, text, norm in zip(docs.tolist(), originals, normalized):
        a, b = runs[d]
        start, end, span = _char_span(text, norm.split(), a, b + index.n - 1)
        out.item[lo + d], out.start[lo + d], out.end[lo + d], out.span[lo + d] = best[d], start, end, span


def _distinct_per_doc(doc: np.ndarray, hashes: np.ndarray, n_docs: int) -> np.ndarray:
    order = np.lexsort((hashes, doc))
    d, h = doc[order], hashes[order]
    new = np.ones(len(d), bool)
    new[1:] = (d[1:] != d[:-1]) | (h[1:] != h[:-1])
    return np.bincount(d[new], minlength=n_docs)


#: An n-gram held by more eval items than this (boilerplate) counts for the first ones only.
MAX_ITEMS_PER_NGRAM = 256


def _best_item(doc: np.ndarray, first: np.ndarray, last: np.ndarray, items: np.ndarray,
               n_docs: int) -> tuple[np.ndarray, np.ndarray]:
    """Per document, the eval item that holds the most of its matched n-gram occurrences (ties:
    the lowest item index, i.e. the first in the eval files; -1 without matches), and for each
    occurrence whether that item holds it. Occurrence ``k`` is held by ``items[first[k]:last[k]]``."""
    reps = np.minimum(last - first, MAX_ITEMS_PER_NGRAM)
    occ = np.repeat(np.arange(len(first)), reps)
    at = first[occ] + np.arange(len(occ)) - np.repeat(np.cumsum(reps) - reps, reps)
    d, it = doc[occ], np.asarray(items[at], np.int64)
    order = np.lexsort((it, d))
    sd, si = d[order], it[order]
    group = np.flatnonzero(np.r_[True, (sd[1:] != sd[:-1]) | (si[1:] != si[:-1])])
    counts = np.diff(np.r_[group, len(sd)])
    gd, gi = sd[group], si[group]
    pick = np.lexsort((gi, -counts, gd))
    lead = pick[np.r_[True, gd[pick][1:] != gd[pick][:-1]]]
    best = np.full(n_docs, -1, np.int64)
    best[gd[lead]] = gi[lead]
    holds = np.zeros(len(first), bool)
    holds[occ[it == best[d]]] = True
    return best, holds


def _longest_runs(start: np.ndarray, doc: np.ndarray, keep: np.ndarray) -> dict[int, tuple[int, int]]:
    """Per document, the first words ``(a, b)`` of the first and last n-grams of its longest run
    of kept n-grams starting at consecutive words (ties: the first run)."""
    p, d = start[keep], doc[keep]
    if not len(p):
        return {}
    starts = np.flatnonzero(np.r_[True, (p[1:] != p[:-1] + 1) | (d[1:] != d[:-1])])
    ends = np.r_[starts[1:], len(p)] - 1
    rd, length = d[starts], ends - starts
    pick = np.lexsort((p[starts], -length, rd))
    lead = pick[np.r_[True, rd[pick][1:] != rd[pick][:-1]]]
    return {int(rd[k]): (int(p[starts[k]]), int(p[ends[k]])) for k in lead}


def _char_span(text: str, words: list[str], first: int, last: int) -> tuple[int, int, str]:
    """Offsets in ``text`` from the start of word ``first`` to the end of word ``last`` (of the
    normalized ``words``), and that text; ``(-1, -1, the normalized words)`` if the words
    cannot be located."""
    if unicodedata.is_normalized("NFKC", text):  # every ASCII text: words are runs of letters and digits
        starts, ends = _word_bounds(text)
        if len(starts) == len(words):
            start, end = int(starts[first]), int(ends[last])
            low = _fold(text[start:end])
            found = [low[a - start:b - start] for a, b in zip(starts[first:last + 1].tolist(),
                                                              ends[first:last + 1].tolist())]
            if found == words[first:last + 1]:
                return start, end, text[start:end]
    spans = _segment_words(text, last + 1)
    if [w for _, _, w in spans] != words[:last + 1]:
        return -1, -1, " ".join(words[first:last + 1])
    start, end = spans[first][0], spans[last][1]
    return start, end, text[start:end]


def word_spans(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, word)`` of each normalized word of ``text``, in the text's own character
    offsets: the words of ``normalize_for_shingles`` (NFKC, lowercase, runs of letters and
    digits), but for a character whose normalization depends on its neighbours.

    >>> word_spans("Ceci n'est pas: ﬁn.")
    [(0, 4, 'ceci'), (5, 6, 'n'), (7, 10, 'est'), (11, 14, 'pas'), (16, 18, 'fin')]
    """
    if unicodedata.is_normalized("NFKC", text):
        starts, ends = _word_bounds(text)
        return [(a, b, _fold(text[a:b])) for a, b in zip(starts.tolist(), ends.tolist())]
    return _segment_words(text)


@lru_cache(maxsize=1)
def _word_bmp() -> np.ndarray:
    """Whether each Basic Multilingual Plane character is a letter or a digit (L or N)."""
    return np.array([unicodedata.category(chr(c))[0] in "LN" for c in range(0x10000)], bool)


def _word_bounds(text: str) -> tuple[np.ndarray, np.ndarray]:
    """Starts and ends of the runs of letters and digits (Unicode categories L and N) of a text."""
    points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), np.uint32)
    word = np.zeros(len(points) + 2, np.int8)
    bmp = points < 0x10000
    word[1:-1][bmp] = _word_bmp()[points[bmp]]
    for k in np.flatnonzero(~bmp).tolist():
        word[k + 1] = unicodedata.category(text[k])[0] in "LN"
    edges = np.diff(word)
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def _segment_words(text: str, limit: int | None = None) -> list[tuple[int, int, str]]:
    """Character by character: each base character with its combining marks is normalized
    on its own, so that every normalized character maps back to a range of the text."""
    spans: list[tuple[int, int, str]] = []
    word: list[str] = []
    start = end = i = 0
    while i < len(text):
        j = i + 1
        while j < len(text) and unicodedata.combining(text[j]):
            j += 1
        for ch in _fold(unicodedata.normalize("NFKC", text[i:j])):
            if unicodedata.category(ch)[0] in "LN":
                start = i if not word else start
                word.append(ch)
                end = j
            elif word:
                spans.append((start, end, "".join(word)))
                word = []
                if limit is not None and len(spans) >= limit:
                    return spans
        i = j
    if word:
        spans.append((start, end, "".join(word)))
    return spans


def _fold(text: str) -> str:
    """Lowercase as Arrow's ``utf8_lower`` does: character by character, one character each
    ('İ' -> 'i', no final sigma)."""
    low = text.lower()
    if len(low) == len(text) and "Σ" not in text:
        return low
    return "".join(c.lower()[:1] for c in text)
