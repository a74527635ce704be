"""Which records share n-grams with an eval index, with a match report per record: matched
n-grams, overlap ratio, the eval item most of them come from, and the longest run of
consecutive matched n-grams as a character span of the record's own text."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import xxhash

from ..dedup.lsh import normalize_for_shingles
from ..text.ngrams import word_chunks
from .eval_index import DocNgrams, EvalIndex, doc_ngrams

__all__ = ["Overlaps", "find_overlaps", "word_spans"]


@dataclass
class Overlaps:
    """Per record: ``matches`` (distinct eval n-grams it holds), ``ratio`` (share of its
    n-gram occurrences that are eval n-grams), ``item`` (the eval item most of them come
    from, -1 if none), ``start``/``end`` (character span of its longest run of consecutive
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
    tok, n_docs = grams.tok, len(texts)
    doc = tok.doc[grams.pos]
    hit, item = index.lookup(grams.hashes)
    if not hit.any():
        return
    total = np.bincount(doc, minlength=n_docs)
    mpos, mdoc, mhash = grams.pos[hit], doc[hit], grams.hashes[hit]
    out.ratio[lo:lo + n_docs] = np.bincount(mdoc, minlength=n_docs) / np.maximum(total, 1)
    out.matches[lo:lo + n_docs] = _distinct_per_doc(mdoc, mhash, n_docs)
    best = _best_item(mdoc, item, n_docs)
    counts = np.bincount(tok.doc, minlength=n_docs)
    first_word = np.cumsum(counts) - counts
    for d, (a, b) in _longest_runs(mpos, mdoc, item == best[mdoc]).items():
        words = tok.ids[first_word[d]:first_word[d] + counts[d]]
        start, end, span = _char_span(texts[d].as_py(), words, a - first_word[d], b - first_word[d] + index.n - 1)
        out.item[lo + d], out.start[lo + d], out.end[lo + d], out.span[lo + d] = best[d], start, end, span


def _distinct_per_doc(doc: np.ndarray, hashes: np.ndarray, n_docs: int) -> np.ndarray:
    order = np.lexsort((hashes, doc))
    d, h = doc[order], hashes[order]
    new = np.ones(len(d), bool)
    new[1:] = (d[1:] != d[:-1]) | (h[1:] != h[:-1])
    return np.bincount(d[new], minlength=n_docs)


def _best_item(doc: np.ndarray, item: np.ndarray, n_docs: int) -> np.ndarray:
    """Per document, the eval item with the most matched n-gram occurrences (ties: the
    lowest item index, i.e. the first in the eval files); -1 without matches."""
    order = np.lexsort((item, doc))
    d, it = doc[order], item[order]
    first = np.flatnonzero(np.r_[True, (d[1:] != d[:-1]) | (it[1:] != it[:-1])])
    counts = np.diff(np.r_[first, len(d)])
    gd, gi = d[first], it[first]
    pick = np.lexsort((gi, -counts, gd))
    lead = pick[np.r_[True, gd[pick][1:] != gd[pick][:-1]]]
    best = np.full(n_docs, -1, np.int64)
    best[gd[lead]] = gi[lead]
    return best


def _longest_runs(pos: np.ndarray, doc: np.ndarray, keep: np.ndarray) -> dict[int, tuple[int, int]]:
    """Per document, ``(first, last)`` flat start positions of its longest run of consecutive
    kept n-grams (ties: the first run)."""
    p, d = pos[keep], doc[keep]
    if not len(p):
        return {}
    starts = np.flatnonzero(np.r_[True, (p[1:] != p[:-1] + 1) | (d[1:] != d[:-1])])
    ends = np.r_[starts[1:], len(p)] - 1
    rd, length = d[starts], ends - starts
    pick = np.lexsort((p[starts], -length, rd))
    lead = pick[np.r_[True, rd[pick][1:] != rd[pick][:-1]]]
    return {int(rd[k]): (int(p[starts[k]]), int(p[ends[k]])) for k in lead}


def _char_span(text: str, word_ids: np.ndarray, first: int, last: int) -> tuple[int, int, str]:
    """Offsets in ``text`` from the start of word ``first`` to the end of word ``last``, and
    that text; ``(-1, -1, the normalized words)`` if the words cannot be located."""
    spans = word_spans(text, word_ids)
    if spans is None:
        words = normalize_for_shingles(pa.array([text], pa.string()))[0].as_py().split()
        return -1, -1, " ".join(words[first:last + 1])
    start, end = spans[first][0], spans[last][1]
    return start, end, text[start:end]


_ASCII_WORD = re.compile(r"[A-Za-z0-9]+")
_WORD = re.compile(r"[^\W_]+")


def word_spans(text: str, word_ids: np.ndarray | None = None) -> list[tuple[int, int, str]] | None:
    """``(start, end, word)`` of each normalized word of ``text``, in the text's own character
    offsets: the words ``doc_ngrams`` hashes (NFKC, lowercase, runs of letters and digits).
    With ``word_ids`` (the words' hashes) the result is checked against them; ``None`` if
    they disagree (a character whose normalization depends on its neighbours).

    >>> word_spans("Ceci n'est pas: ﬁn.")
    [(0, 4, 'ceci'), (5, 6, 'n'), (7, 10, 'est'), (11, 14, 'pas'), (16, 18, 'fin')]
    """
    if text.isascii():
        candidates = [_ascii_words]
    else:
        candidates = [_simple_words, _segment_words] if unicodedata.is_normalized("NFKC", text) else [_segment_words]
    for words in candidates:
        spans = words(text)
        if word_ids is None or _same_words(spans, word_ids):
            return spans
    return None


def _ascii_words(text: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), m.group().lower()) for m in _ASCII_WORD.finditer(text)]


def _simple_words(text: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), _fold(m.group())) for m in _WORD.finditer(text)]


def _segment_words(text: str) -> list[tuple[int, int, str]]:
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
        i = j
    if word:
        spans.append((start, end, "".join(word)))
    return spans


def _fold(text: str) -> str:
    """Lowercase character by character, one character each (Arrow's ``utf8_lower``: 'İ' -> 'i',
    no final sigma)."""
    return "".join(c.lower()[:1] for c in text) if not text.isascii() else text.lower()


def _same_words(spans: list[tuple[int, int, str]], word_ids: np.ndarray) -> bool:
    if len(spans) != len(word_ids):
        return False
    digest = xxhash.xxh3_64_intdigest
    ids = np.fromiter((digest(w.encode("utf-8", "surrogatepass")) for _, _, w in spans), np.uint64, len(spans))
    return bool((ids == word_ids).all())
