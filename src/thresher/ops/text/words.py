"""Shared text helpers: the one definition of a word, a line, a paragraph, and normalization.

Words are whitespace-separated tokens, as in Gopher (Rae et al. 2021, App. A) and Dolma's
reimplementation of its rules; punctuation stays attached to its word (``end.``), so a bare
punctuation mark surrounded by spaces is a word that holds no letter.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from typing import Sequence

__all__ = ["words", "lines", "paragraphs", "normalize_text", "dedup_key", "duplicate_stats"]

_SPACES = re.compile(r"[^\S\n]+")
_TRAILING = re.compile(r"[^\S\n]+\n")
_BLANK_LINES = re.compile(r"\n{3,}")
_PARAGRAPH_SPLIT = re.compile(r"\n\s*\n")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_WORD_CHARS = re.compile(r"\w+")


def words(text: str) -> list[str]:
    """Whitespace-separated tokens."""
    return text.split()


def lines(text: str) -> list[str]:
    """Non-empty lines, stripped."""
    return [line for line in (raw.strip() for raw in text.split("\n")) if line]


def paragraphs(text: str) -> list[str]:
    """Non-empty paragraphs (separated by a blank line), stripped."""
    return [p for p in (raw.strip() for raw in _PARAGRAPH_SPLIT.split(text)) if p]


def normalize_text(text: str, *, form: str | None = "NFC", whitespace: bool = True,
                   strip_control: bool = True, lowercase: bool = False) -> str:
    """Unicode normal form, control characters out, runs of spaces to one, at most one blank line."""
    if form:
        text = unicodedata.normalize(form, text)
    if strip_control:
        text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    if lowercase:
        text = text.lower()
    if whitespace:
        text = _SPACES.sub(" ", text)
        text = _TRAILING.sub("\n", text)
        text = _BLANK_LINES.sub("\n\n", text).strip()
    return text


def dedup_key(text: str) -> str:
    """The text that exact dedup hashes: NFKC, lowercased, word characters only (punctuation
    and symbols dropped), joined by single spaces."""
    return " ".join(_WORD_CHARS.findall(unicodedata.normalize("NFKC", text).lower()))


def duplicate_stats(items: Sequence[str]) -> tuple[float, float]:
    """``(fraction of items that repeat an earlier item, fraction of characters in those repeats)``.

    The first occurrence of an item is not a duplicate; every later one is. Characters are
    counted over ``items`` (their own lengths), so the separators between them do not count.

    >>> duplicate_stats(["a b", "cd", "a b"])
    (0.3333333333333333, 0.375)
    """
    if not items:
        return 0.0, 0.0
    counts = Counter(items)
    repeats = len(items) - len(counts)
    if not repeats:
        return 0.0, 0.0
    repeated_chars = sum(len(item) * (k - 1) for item, k in counts.items() if k > 1)
    total = sum(map(len, items))
    return repeats / len(items), (repeated_chars / total if total else 0.0)
